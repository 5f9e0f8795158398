#!/usr/bin/env bash
# Debian packages for the embedded engines: espeak-ng (Hebrew and English), and MBROLA with its
# Hebrew voice hb2, which makes the embedded Hebrew intelligible (docs/BENCHMARKS.md). The voice
# is in Debian's non-free component (free to use, not to sell: /usr/share/doc/mbrola-hb2/copyright);
# where that component is not enabled, this enables it for the release in use, on the mirror
# the machine already uses for that release (never one of its own). Without it, voiced falls
# back to espeak-ng's own Hebrew voice.
set -euo pipefail
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -e /usr/share/mbrola/hb2/hb2 ] || need+=(mbrola mbrola-hb2)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]} (Debian packages)"
. /etc/os-release

# The URI the machine's own apt sources use for this release (deb822 files, then the one-line
# sources.list), so the non-free component comes from the same place as everything else.
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    awk -v rel="$VERSION_CODENAME" '
      function done_() { if (!found && u != "" && index(" " s " ", " " rel " ")) { print u; found = 1 } u = ""; s = "" }
      /^URIs:/ { u = $2 } /^Suites:/ { s = $0; sub(/^Suites:[ \t]*/, "", s) } /^[ \t]*$/ { done_() }
      END { done_() }' "$f"
  done
  if [ -e /etc/apt/sources.list ]; then
    sed -e 's/\[[^]]*\]//' /etc/apt/sources.list | awk -v rel="$VERSION_CODENAME" '$1 == "deb" && $3 == rel { print $2 }'
  fi
  return 0
}

if [[ " ${need[*]} " == *" mbrola-hb2 "* && "${ID:-}" == debian ]] \
   && ! apt-cache policy mbrola-hb2 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  uri=$(mirror | sed -n 1p)
  if [ -n "$uri" ]; then
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" "$VERSION_CODENAME" | $sudo tee /etc/apt/sources.list.d/voiced-non-free.sources >/dev/null
  else
    echo "no apt source for $VERSION_CODENAME found to take non-free from"
  fi
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq espeak-ng >/dev/null
$sudo apt-get install -y -qq mbrola mbrola-hb2 >/dev/null \
  || echo "mbrola-hb2 not available: Hebrew will use espeak-ng's own voice (less intelligible)"
