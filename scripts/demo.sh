#!/usr/bin/env bash
# The main job, end to end: a real delta update of a sample ext4 image v1 -> v2
# over HTTP from a private nginx on loopback. Installs what it needs, builds, then:
#   v1.img, v2.img  two ext4 images built from two versions of a file tree
#   zckup make      v2.img -> v2.zck + v2.zckh      (build host side)
#   zckup plan      what the device would reuse and fetch
#   nginx           serves v2.zck on a free port of 127.0.0.1 (stopped at the end)
#   zckup apply     v1.img + http://127.0.0.1:PORT/v2.zck -> out.img   (device side)
# and checks out.img is byte-identical to v2.img.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" demo
"$top/scripts/build.sh"
zckup="$top/${BUILD_DIR:-build}/zckup"
work=${DEMO_DIR:-/tmp/zckup-demo}
rm -rf "$work"
mkdir -p "$work/tree"
cd "$work"

# v1: a tree of real files from this machine (present on any Debian 12 with the
# build dependencies); v2: some files removed, some changed, some added.
cp -r /usr/include tree/include
cp -r /usr/lib/python3.11 tree/python3.11
size_mb=$(( $(du -sm tree | cut -f1) * 3 / 2 + 32 ))
export E2FSPROGS_FAKE_TIME=1700000000
mkfs_image() { # tree -> image, same layout options for both versions
	mkfs.ext4 -q -F -b 4096 -E root_owner=0:0,hash_seed=5d6f1d8e-2a7b-4c1d-9e3f-000000000001 \
		-U 6b0f7a3e-0000-4000-8000-000000000001 -d tree "$1" "${size_mb}M" >/dev/null
}
mkfs_image v1.img
rm -rf tree/python3.11/email tree/include/linux/netfilter*
find tree/include -name '*.h' | sort | awk 'NR % 25 == 0' | while read -r f; do
	echo "/* patched in v2 */" >>"$f"
done
cp -r /usr/lib/python3/dist-packages/mesonbuild tree/mesonbuild
mkfs_image v2.img

echo "== build host: zckup make v2.img"
"$zckup" make v2.img -o v2.zck -H v2.zckh

# The update server: a private nginx on a free loopback port, serving $work/www.
mkdir -p www ngx
mv v2.zck www/
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
cat >ngx/nginx.conf <<EOF
daemon off; master_process off; worker_processes 1;
pid $work/ngx/nginx.pid; error_log $work/ngx/error.log;
events { worker_connections 64; }
http {
	log_format zu '\$status \$bytes_sent';
	access_log $work/ngx/access.log zu;
	client_body_temp_path $work/ngx/body; proxy_temp_path $work/ngx/proxy;
	fastcgi_temp_path $work/ngx/fastcgi; uwsgi_temp_path $work/ngx/uwsgi;
	scgi_temp_path $work/ngx/scgi;
	server { listen 127.0.0.1:$port; root $work/www; }
}
EOF
nginx -e "$work/ngx/error.log" -p "$work/ngx" -c "$work/ngx/nginx.conf" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null' EXIT
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
url=http://127.0.0.1:$port/v2.zck
echo "== update server: nginx serves $url"

echo "== device: what would be reused and fetched"
"$zckup" plan --source v1.img --url "$url"
echo "== device: zckup apply over HTTP (header read from the URL too)"
"$zckup" apply --url "$url" --source v1.img --target out.img
cmp out.img v2.img
read -r requests sent < <(awk '{n++; b += $2} END {print n + 0, b + 0}' ngx/access.log)
echo "== out.img is byte-identical to v2.img ($(stat -c %s v2.img) bytes; v2.zck is" \
	"$(stat -c %s www/v2.zck) bytes); nginx sent $sent bytes in $requests requests" \
	"(plan and apply, header reads included)"
