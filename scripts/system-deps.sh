#!/usr/bin/env bash
# Debian packages for the embedded engines: espeak-ng (Hebrew and English), and MBROLA with its
# Hebrew voice hb2, which makes the embedded Hebrew intelligible (docs/BENCHMARKS.md). The voice
# is in Debian's non-free component (free to use, not to sell: /usr/share/doc/mbrola-hb2/copyright);
# where that component is not enabled, this enables it for the release in use. Without it,
# voiced falls back to espeak-ng's own Hebrew voice.
set -euo pipefail
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -e /usr/share/mbrola/hb2/hb2 ] || need+=(mbrola mbrola-hb2)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]} (Debian packages)"
. /etc/os-release
if [[ " ${need[*]} " == *" mbrola-hb2 "* && "${ID:-}" == debian ]] \
   && ! apt-cache policy mbrola-hb2 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$VERSION_CODENAME" | $sudo tee /etc/apt/sources.list.d/voiced-non-free.sources >/dev/null
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq espeak-ng >/dev/null
$sudo apt-get install -y -qq mbrola mbrola-hb2 >/dev/null \
  || echo "mbrola-hb2 not available: Hebrew will use espeak-ng's own voice (less intelligible)"
