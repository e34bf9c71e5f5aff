#!/usr/bin/env bash
# make_swu.sh DIR URL SOURCE TARGET: in DIR (which holds new.zckh), a signed update.swu for
# SWUpdate's delta handler: the header new.zckh, the .zck at URL, the old image SOURCE, chained
# to rawfile writing TARGET. Debian builds SWUpdate for CMS-signed images only, so it is signed
# with a throw-away EC key: DIR/cert.pem is what `swupdate -k` wants. Also writes swupdate.cfg.
# Used by tests/integration/swupdate.sh and bench/net.sh.
set -euo pipefail
dir=$1 url=$2 source=$3 target=$4
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/O=zckup test/CN=swupdate" -keyout key.pem -out cert.pem 2>/dev/null
cat >sw-description <<EOF
software =
{
	version = "2.0.0";
	hardware-compatibility: [ "1.0" ];
	images: (
	{
		filename = "new.zckh";
		type = "delta";
		path = "$target";
		sha256 = "$(sha256sum new.zckh | cut -d' ' -f1)";
		properties: {
			url = "$url";
			source = "$source";
			chain = "rawfile";
			zckloglevel = "error";
		};
	}
	);
}
EOF
openssl cms -sign -in sw-description -out sw-description.sig -signer cert.pem \
	-inkey key.pem -outform DER -nosmimecap -binary
printf '%s\n' sw-description sw-description.sig new.zckh | cpio -o -H crc --quiet >update.swu
printf 'globals:\n{\n\tloglevel = 5;\n};\n' >swupdate.cfg
