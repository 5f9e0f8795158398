#!/usr/bin/env bash
# Two callers dial a voiced daemon started in-process on the embedded engines, as Twilio
# Media Streams would: a Hebrew caller (voiced say, the embedded Hebrew voice) asks a price and
# books a haircut; an English caller (espeak-ng) asks the hours and books one; each booking is
# said back and made on the caller's yes.
# Prints each turn's transcript, reply and latency, writes each call (caller left, agent
# right) to build/demo/, and ends with `voiced calls`, which shows the booking from the call
# records. The appointment book is a fresh one in build/demo/state, so every run books the
# same slot.
set -euo pipefail
voiced=${1:-voiced}
out=build/demo
mkdir -p "$out"
"$voiced" say --lang he -o "$out/he-1-price.wav" "כמה עולה תספורת?"
"$voiced" say --lang he -o "$out/he-2-book.wav" "אני רוצה להזמין תור לתספורת ביום שלישי בשעה אחת עשרה"
"$voiced" say --lang he -o "$out/he-3-yes.wav" "כן, בסדר"
espeak-ng -v en-us -s 130 -w "$out/en-1-hours.wav" "Hello, what are your opening hours?"
espeak-ng -v en-us -s 130 -w "$out/en-2-book.wav" "I would like to book a haircut next Wednesday at eleven."
espeak-ng -v en-us -s 130 -w "$out/en-3-yes.wav" "Yes, please."
espeak-ng -v en-us -s 130 -w "$out/en-4-bye.wav" "Thank you, goodbye."
# The shipped settings, with callers' words in the log (off by default: log.transcripts):
# this is a demonstration on our own recordings, not a caller's private call.
rm -rf "$out/state"
sed -e 's/^transcripts = false$/transcripts = true/' \
    -e "s|^state_dir = \"\"|state_dir = \"$out/state\"|" config.toml > "$out/config.toml"
grep -q '^transcripts = true$' "$out/config.toml"
grep -q "^state_dir = \"$out/state\"" "$out/config.toml"
echo "== a Hebrew caller"
"$voiced" dial --config "$out/config.toml" --out "$out/call-he.wav" --caller +972501234567 \
  --say "$out/he-1-price.wav" --say "$out/he-2-book.wav" --say "$out/he-3-yes.wav"
echo "== an English caller"
"$voiced" dial --config "$out/config.toml" --out "$out/call-en.wav" --caller +972502345678 \
  --say "$out/en-1-hours.wav" --say "$out/en-2-book.wav" --say "$out/en-3-yes.wav" \
  --say "$out/en-4-bye.wav"
echo "== voiced calls (the call records)"
exec "$voiced" calls --config "$out/config.toml"
