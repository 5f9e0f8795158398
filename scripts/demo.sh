#!/usr/bin/env bash
# Speaks four caller turns (English with espeak-ng, Hebrew with `voiced say`, the embedded
# Hebrew voice) and dials them into a voiced
# daemon started in-process on the embedded engines. Prints each turn's transcript, reply and
# latency, and writes the whole call (caller left, agent right) to build/demo/call.wav.
set -euo pipefail
voiced=${1:-voiced}
out=build/demo
mkdir -p "$out"
espeak-ng -v en-us -s 130 -w "$out/1-en-hours.wav" "Hello, what are your opening hours?"
"$voiced" say --lang he -o "$out/2-he-price.wav" "כמה עולה תספורת?"
espeak-ng -v en-us -s 130 -w "$out/3-en-booking.wav" "I would like to book an appointment."
espeak-ng -v en-us -s 130 -w "$out/4-en-bye.wav" "Thank you, goodbye."
# The shipped settings, with callers' words in the log (off by default: log.transcripts):
# this is a demonstration on our own recordings, not a caller's private call.
sed 's/^transcripts = false$/transcripts = true/' config.toml > "$out/config.toml"
grep -q '^transcripts = true$' "$out/config.toml"
exec "$voiced" dial --config "$out/config.toml" --out "$out/call.wav" \
  --say "$out/1-en-hours.wav" --say "$out/2-he-price.wav" \
  --say "$out/3-en-booking.wav" --say "$out/4-en-bye.wav"
