#!/usr/bin/env bash
# Speaks five caller turns (English with espeak-ng, Hebrew with `voiced say`, the embedded
# Hebrew voice) and dials them into a voiced daemon started in-process on the embedded
# engines: the hours, a price in Hebrew, a haircut booked by voice (said back, booked on the
# caller's yes), goodbye. Prints each turn's transcript, reply and latency, and writes the
# whole call (caller left, agent right) to build/demo/call.wav. The appointment book is a
# fresh one in build/demo/state, so every run books the same slot.
set -euo pipefail
voiced=${1:-voiced}
out=build/demo
mkdir -p "$out"
espeak-ng -v en-us -s 130 -w "$out/1-en-hours.wav" "Hello, what are your opening hours?"
"$voiced" say --lang he -o "$out/2-he-price.wav" "כמה עולה תספורת?"
espeak-ng -v en-us -s 130 -w "$out/3-en-booking.wav" "I would like to book a haircut next Tuesday at ten."
espeak-ng -v en-us -s 130 -w "$out/4-en-yes.wav" "Yes, please."
espeak-ng -v en-us -s 130 -w "$out/5-en-bye.wav" "Thank you, goodbye."
# The shipped settings, with callers' words in the log (off by default: log.transcripts):
# this is a demonstration on our own recordings, not a caller's private call.
rm -rf "$out/state"
sed -e 's/^transcripts = false$/transcripts = true/' \
    -e "s|^state_dir = \"\"|state_dir = \"$out/state\"|" config.toml > "$out/config.toml"
grep -q '^transcripts = true$' "$out/config.toml"
grep -q "^state_dir = \"$out/state\"" "$out/config.toml"
exec "$voiced" dial --config "$out/config.toml" --out "$out/call.wav" \
  --say "$out/1-en-hours.wav" --say "$out/2-he-price.wav" \
  --say "$out/3-en-booking.wav" --say "$out/4-en-yes.wav" --say "$out/5-en-bye.wav"
