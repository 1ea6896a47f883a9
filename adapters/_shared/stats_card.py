"""The shareable stats card: a 1200x630 PNG drawn with Pillow (imported lazily; used by `cs card`
and the dashboard's card endpoint). Fonts: Pillow's bundled scalable default font (Pillow>=10.1)."""

from __future__ import annotations

import io
from typing import Any

from costhq.domain.money import format_usd
from costhq.domain.sessions import format_duration

W, H = 1200, 630
BG_TOP, BG_BOTTOM = (49, 46, 129), (17, 24, 39)
INK, MUTED, ACCENT, BAR = (255, 255, 255), (199, 210, 254), (165, 180, 252), (129, 140, 248)


def _background() -> Any:
    from PIL import Image

    mask = Image.linear_gradient("L").resize((W, H))  # 0 at the top, 255 at the bottom
    return Image.composite(Image.new("RGB", (W, H), BG_BOTTOM), Image.new("RGB", (W, H), BG_TOP), mask)


def render_card(stats: Any) -> bytes:
    """PNG bytes of the card for a `CardStats` (sessions, hours, cost, top models, files, commits, chart)."""
    from PIL import ImageDraw, ImageFont

    img = _background()
    d = ImageDraw.Draw(img)

    def font(size: int) -> Any:
        return ImageFont.load_default(size=size)

    t = stats.totals
    d.text((60, 48), "CostHQ", font=font(30), fill=ACCENT)
    d.text((60, 88), f"My AI coding · {stats.label}", font=font(46), fill=INK)
    tiles = [
        ("Sessions", f"{t.sessions:,}"),
        ("Hours", f"{t.seconds / 3600:,.1f}"),
        ("AI cost", format_usd(t.cost)),
        ("Files", f"{t.files:,}"),
        ("Commits", f"{t.commits:,}"),
        ("Tokens", _compact(t.tokens)),
    ]
    for i, (label, value) in enumerate(tiles):
        x, y = 60 + (i % 3) * 240, 180 + (i // 3) * 130
        d.rounded_rectangle([x, y, x + 220, y + 110], radius=18, fill=(30, 27, 75), outline=(99, 102, 241), width=2)
        d.text((x + 18, y + 14), label, font=font(20), fill=MUTED)
        d.text((x + 18, y + 46), value, font=font(40), fill=INK)
    _models(d, stats.models, font)
    _chart(d, stats.daily, font)
    d.text(
        (60, H - 50),
        f"Time tracked: {format_duration(t.seconds)}  ·  costhq: local-first AI cost tracking",
        font=font(18),
        fill=MUTED,
    )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _compact(n: int) -> str:
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


def _models(d: Any, models: list[Any], font: Any) -> None:
    x, y = 800, 180
    d.text((x, y), "Top models", font=font(24), fill=ACCENT)
    if not models:
        d.text((x, y + 44), "No AI calls yet", font=font(22), fill=MUTED)
    top_cost = max((m.cost for m in models), default=0) or 1
    for i, m in enumerate(models[:5]):
        yy = y + 44 + i * 46
        d.text((x, yy), m.model[:26], font=font(20), fill=INK)
        width = int(300 * float(m.cost / top_cost)) if top_cost else 0
        d.rounded_rectangle([x, yy + 26, x + max(width, 4), yy + 34], radius=4, fill=BAR)
        d.text((x + 310, yy + 4), format_usd(m.cost), font=font(18), fill=MUTED, anchor="ra")


def _chart(d: Any, daily: list[Any], font: Any) -> None:
    x0, y0, w, h = 60, 470, 1080, 90
    d.text((x0, y0 - 30), "Daily AI spend", font=font(18), fill=MUTED)
    if not daily:
        return
    top = max((p.cost for p in daily), default=0) or 1
    step = w / len(daily)
    for i, p in enumerate(daily):
        bh = int(h * float(p.cost / top)) if p.cost else 2
        left = x0 + i * step
        d.rectangle([left + 1, y0 + h - bh, left + max(step - 3, 1), y0 + h], fill=BAR)
