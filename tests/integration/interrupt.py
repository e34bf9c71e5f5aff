#!/usr/bin/env python3
"""Runs a zckup apply and kills it with SIGKILL part-way.

interrupt.py FRACTION CMD...         (CMD must include --progress json)
interrupt.py --term FRACTION CMD...  send SIGTERM instead and let it end

Watches the JSON progress lines on CMD's stdout; once the write phase has
passed FRACTION of the image, stops the process (SIGSTOP, so that what it
reported is what it did), reads the events still in the pipe, and kills it
with SIGKILL. Prints one JSON object: {"killed": bool, "fetched": N,
"written_fraction": F}. "fetched" is the last fetch progress seen: it may
miss at most the one record being received when the process was stopped.
"""
import json
import os
import signal
import subprocess
import sys


def main():
    args = sys.argv[1:]
    term = args[0] == "--term"
    if term:
        args = args[1:]
    fraction = float(args[0])
    proc = subprocess.Popen(args[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    fetched = 0
    done_frac = 0.0
    killed = False
    for line in proc.stdout:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") != "progress":
            continue
        fetched = max(fetched, ev.get("fetched", 0))
        if ev.get("phase") == "write" and ev.get("total"):
            done_frac = ev["done"] / ev["total"]
            if done_frac >= fraction and not killed and term:
                proc.send_signal(signal.SIGTERM)
                killed = True
                proc.stdout.read()
                break
            if done_frac >= fraction and not killed:
                proc.send_signal(signal.SIGSTOP)
                killed = True
                # drain what it wrote before it stopped, without blocking
                os.set_blocking(proc.stdout.fileno(), False)
                rest = proc.stdout.read() or b""
                for more in rest.splitlines():
                    try:
                        ev = json.loads(more)
                    except ValueError:
                        continue
                    if ev.get("event") == "progress":
                        fetched = max(fetched, ev.get("fetched", 0))
                proc.kill()
                break
    status = proc.wait()
    print(json.dumps({"killed": killed, "fetched": fetched, "written_fraction": done_frac,
                      "status": status}))


if __name__ == "__main__":
    main()
