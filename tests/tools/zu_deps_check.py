#!/usr/bin/env python3
"""Checks scripts/deps.sh's program table against what the sources call.

    zu_deps_check.py TOP PROGRAMS TABLE     prints TAP cases (no plan line)

PROGRAMS is zu_programs.py's output ("FILE<TAB>LINE<TAB>PROGRAM"), TABLE is
`deps.sh --table` ("PROGRAM PACKAGE JOB..."). Every program a file calls must
have a row for that file's job (or an "essential" row), and every row's
package must really bring the program: found in the system directories (not
/usr/local or a Python of the user's), followed link by link, one of the files
on the way is listed in dpkg's database by that package or by one it depends
on (python3 brings /usr/bin/python3 through python3-minimal). Exit 1 on any
failure.
"""
import glob
import os
import subprocess
import sys

SYSTEM_PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
# The job each file runs in (what installs its programs); the rest is "test".
FILE_JOBS = {
    "scripts/demo.sh": "demo", "scripts/build.sh": "demo",
    "scripts/deb.sh": "deb",
    "scripts/cross.sh": "cross",
    "scripts/fresh_root.sh": "ci",
    "scripts/deps.sh": "essential",  # runs before anything is installed
    ".ci/run": "ci",
}
# The rows a job's files may use: deps.sh's packages_of (test takes cross's too).
JOB_TAGS = {"demo": {"demo"}, "deb": {"deb"}, "cross": {"cross"}, "ci": {"ci"},
            "test": {"test", "cross"}, "essential": set()}


def job_of(path):
    if path in FILE_JOBS:
        return FILE_JOBS[path]
    if path.startswith("cross/"):
        return "cross"
    return "test"


def dpkg_owners():
    owners = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[:-5].split(":")[0]
        with open(lst, errors="replace") as f:
            for line in f:
                owners.setdefault(line.rstrip("\n"), set()).add(pkg)
    return owners


def dpkg_status():
    """Package -> (installed, in every root, names it depends on), from one dpkg-query."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}|${Status}|${Essential}|${Priority}|"
                          "${Depends}, ${Pre-Depends}\n"], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    status = {}
    for line in out.splitlines():
        pkg, st, essential, priority, deps = line.split("|", 4)
        names = {n.split("(")[0].split(":")[0].strip() for alt in deps.split(",")
                 for n in alt.split("|")} - {""}
        # A minbase root (mmdebstrap, debootstrap) holds the Essential and
        # Priority required packages, and apt (Priority important in some
        # point releases, required in others).
        # dpkg marks an installed package "triggers-pending" while another
        # install runs (libc-bin's ldconfig trigger): still installed
        installed = st.split()[-1:] in (["installed"], ["triggers-pending"], ["triggers-awaited"])
        status[pkg] = (installed,
                       essential == "yes" or priority == "required" or pkg == "apt", names)
    return status


def depends_closure(pkg, status, depth=3):
    """PKG and the installed packages it depends on, DEPTH levels down."""
    seen, level = {pkg}, {pkg}
    for _ in range(depth):
        level = {d for p in level for d in status.get(p, (0, 0, set()))[2]} - seen
        seen |= level
    return seen


def owners_on_the_way(prog, owners):
    """The packages that list a file on the way from PROG's name to its binary."""
    for d in SYSTEM_PATH:
        path = os.path.join(d, prog)
        if not os.path.lexists(path):
            continue
        found = set()
        for _ in range(16):
            for p in (path, path[4:] if path.startswith("/usr/") else "/usr" + path):
                found |= owners.get(p, set())
            if not os.path.islink(path):
                break
            path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
        return path, found
    return None, set()


def main():
    top, programs_file, table_file = sys.argv[1:4]
    rows = {}
    for line in open(table_file):
        f = line.split()
        if f:
            rows[f[0]] = (f[1], set(f[2:]))
    calls = [l.rstrip("\n").split("\t") for l in open(programs_file) if l.strip()]
    n = 0
    failed = 0

    def case(good, text, details=()):
        nonlocal n, failed
        n += 1
        print(("ok" if good else "not ok"), n, "-", text)
        for d in details:
            print("#", d)
        if not good:
            failed += 1

    # 1. every call has a row for its file's job
    missing, wrong_job = [], []
    for path, line, prog in calls:
        job = job_of(path)
        if prog not in rows:
            missing.append(f"{prog} ({path}:{line}, job {job}): no row in scripts/deps.sh")
            continue
        tags = rows[prog][1]
        if "essential" not in tags and not (tags & JOB_TAGS[job]):
            wrong_job.append(f"{prog} ({path}:{line}): its row is for {' '.join(sorted(tags))}, "
                             f"not for the {job} job that runs {path}")
    names = sorted({c[2] for c in calls})
    case(not missing, f"every program the scripts and tests call has a row in scripts/deps.sh "
         f"({len(names)} programs in {len(calls)} calls)", missing)
    case(not wrong_job, "each of them is installed by the job that runs it", wrong_job)

    # 2. every row's package ships its program
    owners = dpkg_owners()
    status = dpkg_status()
    checked, not_here, bad_owner, bad_essential = 0, [], [], []
    for prog, (pkg, tags) in sorted(rows.items()):
        here, everywhere, _ = status.get(pkg, (False, False, set()))
        if not here:
            not_here.append((prog, pkg, tags))
            continue
        if "essential" in tags and not everywhere:
            bad_essential.append(f"{prog}: {pkg} is neither Essential nor Priority required, so "
                                 f"a minbase root lacks it: give the row a job")
        path, found = owners_on_the_way(prog, owners)
        checked += 1
        if path is None:
            bad_owner.append(f"{prog}: not in {':'.join(SYSTEM_PATH)} although {pkg} is installed")
        elif not found & depends_closure(pkg, status):
            bad_owner.append(f"{prog}: {path} comes from {', '.join(sorted(found)) or 'no package'}, "
                             f"not {pkg}")
    case(not bad_owner, f"each installed row's package brings its program ({checked} rows)", bad_owner)
    case(not bad_essential, "the rows marked essential are in every Debian root", bad_essential)
    # What this run installed (the test job and the essential rows) must all be
    # checked; rows of other jobs (deb) are checked where that job ran.
    unchecked_here = [f"{p} ({pkg}, job {' '.join(sorted(t))})" for p, pkg, t in not_here
                      if t & {"essential", "test", "cross", "demo"}]
    case(not unchecked_here, "every row of the test, demo and cross jobs is installed and checked",
         unchecked_here)
    for p, pkg, t in not_here:
        if not t & {"essential", "test", "cross", "demo"}:
            print(f"# not checked here: {p} ({pkg} is not installed; job {' '.join(sorted(t))})")
    unused = sorted(set(rows) - set(names))
    for p in unused:
        print(f"# row not called by any script: {p}")
    case(not unused, "no row is left that no script calls", [f"{p}: remove its row" for p in unused])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
