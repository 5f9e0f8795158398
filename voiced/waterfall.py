"""``voiced calls``: recent calls, and one call turn by turn with a latency waterfall.

Time zero of each turn is the end of the caller's speech; bars show when the endpoint was
decided, when STT, the LLM and TTS worked (often before zero: speculation), and when the
first audio left for Twilio. Text for the terminal, SVG for a browser.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from .records import CallView

# (label, start key, end key) in a turn's "at_ms"; a missing key skips the bar.
BARS = (
    ("endpoint", None, "endpoint"),
    ("STT", "stt_start", "stt_ready"),
    ("LLM 1st token", "reply_start", "llm_first_token"),
    ("TTS 1st audio", "llm_first_token", "tts_first_audio"),
    ("heard", None, "first_audio_sent"),
)
COLOURS = ("#9aa5b1", "#3f83f8", "#e3a008", "#0e9f6e", "#e02424")


def summary_line(view: CallView) -> str:
    started = view.start.get("t")
    when = dt.datetime.fromtimestamp(float(started)).strftime("%Y-%m-%d %H:%M:%S") if started else "?"
    end = view.end or {}
    turns = [t for t in view.turns if t.get("kind") == "turn"]
    totals = sorted(t["ms"]["total_server"] for t in turns if "total_server" in t.get("ms", {}))
    median = f"{totals[len(totals) // 2] / 1000:.2f}s" if totals else "-"
    did = "".join(f"  {_action(a)}" for a in view.actions)
    return (f"{when}  {view.call}  {view.caller or 'unknown':14s}  {len(turns):2d} turns  "
            f"reply p50 {median:>6s}  {end.get('duration_s', '?')}s  "
            f"{end.get('ended_by', 'in progress (or crashed)')}{did}")


def _action(a: dict[str, Any]) -> str:
    """One thing a tool did for the caller, in a few words."""
    for key in ("booked", "cancelled"):
        if isinstance(a.get(key), dict):
            b = a[key]
            return f"[{key} {b.get('service')} {b.get('date')} {b.get('time')}]"
    if isinstance(a.get("message"), dict):
        return f"[message for {a['message'].get('for') or 'the business'}]"
    return f"[{a.get('tool', 'action')}]"


def _bars(turn: dict[str, Any]) -> list[tuple[str, float, float]]:
    at = turn.get("at_ms", {})
    out = []
    for label, start, end in BARS:
        if end not in at:
            continue
        t0 = 0.0 if start is None else float(at.get(start, 0.0))
        out.append((label, min(t0, float(at[end])), float(at[end])))
    return out


def text(view: CallView, width: int = 60) -> str:
    lines = [summary_line(view), ""]
    for turn in view.turns:
        head = f"turn {turn.get('n')} [{turn.get('kind')}]"
        if turn.get("said"):
            head += f" caller ({turn.get('language')}): {turn['said']}"
        lines.append(head)
        lines.append(f"    agent: {turn.get('reply', '')}")
        if turn.get("barge_in"):
            lines.append(f"    heard (barge-in): {turn.get('heard', '')}")
        if turn.get("faults"):
            lines.append(f"    engine faults: {turn['faults']}")
        bars = _bars(turn)
        if not bars:
            lines.append("")
            continue
        lo = min(0.0, *(b[1] for b in bars))
        hi = max(b[2] for b in bars) or 1.0
        scale = width / (hi - lo)
        for label, start, end in bars:
            a = round((start - lo) * scale)
            b = max(a + 1, round((end - lo) * scale))
            lines.append(f"    {label:14s}|{' ' * a}{'█' * (b - a)}{' ' * (width - b)}| "
                         f"{start:7.0f} .. {end:6.0f} ms")
        zero = round(-lo * scale)
        lines.append(f"    {'':14s} {' ' * zero}^ caller stopped")
        lines.append("")
    if view.end:
        lines.append(f"ended: {view.end.get('ended_by')}; frames {view.end.get('frames')}, "
                     f"dropped {view.end.get('dropped')}, faults {view.end.get('faults') or 'none'}")
    return "\n".join(lines)


def svg(view: CallView) -> str:
    """The same waterfall as a standalone SVG: one row group per turn."""
    row, label_w, plot_w, pad = 18, 120, 640, 10
    turns = [t for t in view.turns if _bars(t)]
    lo = min([0.0] + [b[1] for t in turns for b in _bars(t)])
    hi = max([1000.0] + [b[2] for t in turns for b in _bars(t)])
    scale = plot_w / (hi - lo)
    height = pad * 2 + 30 + sum((len(_bars(t)) + 1.5) * row for t in turns)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 2 * pad}" '
           f'height="{height:.0f}" font-family="sans-serif" font-size="11">',
           f'<text x="{pad}" y="{pad + 12}" font-weight="bold">{escape(summary_line(view))}</text>']
    y = pad + 30.0
    x0 = pad + label_w + (0 - lo) * scale
    for turn in turns:
        title = f"turn {turn.get('n')}: {turn.get('said') or turn.get('kind')}"
        out.append(f'<text x="{pad}" y="{y + 12:.0f}" font-style="italic">{escape(title[:110])}</text>')
        y += row
        for (label, start, end), colour in zip(_bars(turn), COLOURS, strict=False):
            x = pad + label_w + (start - lo) * scale
            w = max(1.0, (end - start) * scale)
            out.append(f'<text x="{pad}" y="{y + 12:.0f}">{escape(label)}</text>'
                       f'<rect x="{x:.1f}" y="{y + 3:.0f}" width="{w:.1f}" height="{row - 6}" '
                       f'fill="{colour}"><title>{start:.0f}..{end:.0f} ms</title></rect>'
                       f'<text x="{x + w + 4:.1f}" y="{y + 12:.0f}">{end:.0f} ms</text>')
            y += row
        y += row / 2
    out.append(f'<line x1="{x0:.1f}" y1="{pad + 24}" x2="{x0:.1f}" y2="{height - pad:.0f}" '
               'stroke="black" stroke-dasharray="3,3"><title>end of caller speech</title></line>')
    out.append("</svg>")
    return "\n".join(out)
