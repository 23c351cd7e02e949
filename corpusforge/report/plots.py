"""The report's charts: matplotlib figures (Agg, no pyplot state) as base64 PNG data URIs.

Labels come from data (reasons, languages, tokenizer and run names): `_short` escapes `$`
so that a name is never read as mathtext.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

DPI = 100
COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]
_VALUE_LABEL = {"xytext": (3, 0), "textcoords": "offset points", "va": "center", "fontsize": 8}  # a bar's value
RC = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
}


@contextmanager
def _figure(width: float, height: float) -> Iterator[Any]:
    """A figure drawn under the report's rc settings."""
    import matplotlib

    with matplotlib.rc_context(RC):
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend; savefig uses Agg

        yield Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(label: str, n: int = 48) -> str:
    from corpusforge.report.html import clean

    label = clean(str(label))
    label = label if len(label) <= n else label[: n - 1] + "…"
    return label.replace("$", r"\$")


def funnel(stages: Sequence[str], docs: Sequence[int], nbytes: Sequence[int]) -> str:
    """Documents and bytes after each stage, side by side."""
    with _figure(10, 0.32 * len(stages) + 1.4) as fig:
        ax1, ax2 = fig.subplots(1, 2, sharey=True)
        y = np.arange(len(stages))
        ax1.barh(y, docs, color=COLORS[0])
        ax1.set_yticks(y, [_short(s, 28) for s in stages])
        ax1.invert_yaxis()
        ax1.set_xlabel("documents after the stage")
        for yi, v in zip(y, docs):
            ax1.annotate(f"{v:,}", (v, yi), **_VALUE_LABEL)
        mb = np.asarray(nbytes, dtype=float) / 1e6
        ax2.barh(y, mb, color=COLORS[1])
        if len(mb) and mb.max() > 0 and mb[mb > 0].min() < mb.max() / 50:
            ax2.set_xscale("log")
        ax2.set_xlabel("MB after the stage (UTF-8 text; HTML before extraction)")
        for yi, v in zip(y, mb):
            ax2.annotate(f"{v:,.2f}", (max(v, 1e-9), yi), **_VALUE_LABEL)
        for ax in (ax1, ax2):
            ax.margins(x=0.18)
            ax.grid(axis="y", visible=False)
        return _png(fig)


def drop_reasons(rows: Sequence[tuple[str, str, int]]) -> str:
    """One horizontal bar per (stage, reason, documents), coloured by stage."""
    stage_order = list(dict.fromkeys(stage for stage, _, _ in rows))
    color = {s: COLORS[i % len(COLORS)] for i, s in enumerate(stage_order)}
    with _figure(10, 0.26 * len(rows) + 1.2) as fig:
        ax = fig.subplots()
        y = np.arange(len(rows))
        counts = [n for _, _, n in rows]
        ax.barh(y, counts, color=[color[s] for s, _, _ in rows])
        ax.set_yticks(y, [_short(r, 60) for _, r, _ in rows])
        ax.invert_yaxis()
        ax.set_xlabel("documents dropped")
        if counts and max(counts) > 50 * max(min(counts), 1):
            ax.set_xscale("log")
        for yi, v in zip(y, counts):
            ax.annotate(f"{v:,}", (v, yi), **_VALUE_LABEL)
        ax.margins(x=0.12)
        ax.grid(axis="y", visible=False)
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=color[s], label=_short(s)) for s in stage_order], loc="lower right", fontsize=8)
        return _png(fig)


def languages(kept: Sequence[tuple[str, float]], dropped: Sequence[tuple[str, float]], top: int = 20) -> str:
    """Documents per language: kept (output shards) and dropped by the language filter."""
    panels = [
        (title, data)
        for title, data in (
            ("kept (output shards)", kept),
            ("dropped by the language filter (from rejected/, weighted)", dropped),
        )
        if data
    ]
    with _figure(10, 0.22 * min(top, max(len(d) for _, d in panels)) + 1.4) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(panels)))
        for i, (ax, (title, data)) in enumerate(zip(axes, panels)):
            data = list(data)[:top]
            y = np.arange(len(data))
            ax.barh(y, [v for _, v in data], color=COLORS[2 if i == 0 else 3])
            ax.set_yticks(y, [_short(k, 20) for k, _ in data])
            ax.invert_yaxis()
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("documents")
            ax.grid(axis="y", visible=False)
        return _png(fig)


def histogram(values: np.ndarray, xlabel: str, bins: int = 30, color: str = COLORS[4]) -> str:
    with _figure(5, 2.8) as fig:
        ax = fig.subplots()
        ax.hist(values, bins=bins, color=color)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("documents")
        return _png(fig)


def score_histograms(edges: Sequence[float], before: Sequence[int], after: Sequence[int], xlabel: str) -> str:
    """Two histograms on the same bins: every document scored, and those kept."""
    with _figure(10, 3.0) as fig:
        ax = fig.subplots()
        ax.stairs(before, edges, label="scored", color=COLORS[0], fill=True, alpha=0.35)
        ax.stairs(after, edges, label="kept", color=COLORS[2], linewidth=1.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("documents")
        ax.set_xlim(edges[0], edges[-1])
        ax.legend(fontsize=8)
        return _png(fig)


def length_histograms(series: Sequence[tuple[str, np.ndarray, np.ndarray | None]]) -> str:
    """Word-count histograms on log-spaced bins; each series (label, words, weights) is
    drawn as a step line, normalized to a share of its documents."""
    allw = np.concatenate([w for _, w, _ in series]) if series else np.empty(0)
    hi = max(int(allw.max()) if len(allw) else 1, 10)
    edges = np.geomspace(1, hi + 1, 41)
    with _figure(10, 3.4) as fig:
        ax = fig.subplots()
        for i, (label, words, weights) in enumerate(series):
            w = np.ones(len(words)) if weights is None else weights
            counts, _ = np.histogram(np.maximum(words, 1), bins=edges, weights=w)  # 0 words: in the first bin
            share = counts / max(w.sum(), 1e-12)
            ax.stairs(
                share,
                edges,
                label=_short(label, 80),
                color=COLORS[i % len(COLORS)],
                linewidth=1.6,
                fill=i == 0,
                alpha=0.35 if i == 0 else 1.0,
            )
        ax.set_xscale("log")
        ax.set_xlim(max(1.0, float(allw.min()) / 1.5) if len(allw) else 1.0, edges[-1])
        ax.set_xlabel("words per document (whitespace-separated; log scale)")
        ax.set_ylabel("share of documents")
        ax.legend(fontsize=8)
        return _png(fig)


def cluster_sizes(series: Sequence[tuple[str, dict[int, int]]]) -> str:
    """Number of clusters per cluster size (two documents or more), one panel per stage."""
    with _figure(10, 3) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(series)))
        for i, (ax, (label, sizes)) in enumerate(zip(axes, series)):
            if sizes:
                values, counts = np.array(sorted(sizes)), np.array([sizes[v] for v in sorted(sizes)])
                ax.bar(
                    values, counts, width=0.8 if values.max() < 40 else values.max() / 60, color=COLORS[i % len(COLORS)]
                )
                if counts.max() > 50 * counts.min():
                    ax.set_yscale("log")
                ax.set_xlim(1, values.max() + 1)
                from matplotlib.ticker import MaxNLocator

                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.yaxis.set_major_locator(MaxNLocator(integer=True)) if ax.get_yscale() == "linear" else None
            else:
                ax.text(0.5, 0.5, "no duplicate clusters", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            ax.set_title(_short(label, 60), fontsize=9)
            ax.set_xlabel("cluster size (documents)")
            ax.set_ylabel("clusters")
        return _png(fig)


def bytes_per_token(rows: Sequence[tuple[str, float]]) -> str:
    with _figure(8, 0.35 * len(rows) + 1.2) as fig:
        ax = fig.subplots()
        y = np.arange(len(rows))
        ax.barh(y, [v for _, v in rows], color=COLORS[5])
        ax.set_yticks(y, [_short(k, 40) for k, _ in rows])
        ax.invert_yaxis()
        ax.set_xlabel("bytes of text per token (higher: fewer tokens for the same text)")
        for yi, (_, v) in zip(y, rows):
            ax.annotate(f"{v:.3f}", (v, yi), **_VALUE_LABEL)
        ax.margins(x=0.12)
        ax.grid(axis="y", visible=False)
        return _png(fig)


def loss_curves(runs: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, str]]) -> str:
    """(name, x, loss, val_loss, x label) per run: training loss lines, validation markers."""
    with _figure(10, 3.6) as fig:
        ax = fig.subplots()
        xlabels = set()
        for i, (name, x, loss, val, xlabel) in enumerate(runs):
            c = COLORS[i % len(COLORS)]
            ok = np.isfinite(x) & np.isfinite(loss)
            ax.plot(x[ok], loss[ok], color=c, linewidth=1.2, label=_short(f"{name} (train)"))
            okv = np.isfinite(x) & np.isfinite(val)
            if okv.any():
                ax.plot(
                    x[okv], val[okv], color=c, linestyle="--", marker="o", markersize=3, label=_short(f"{name} (val)")
                )
            xlabels.add(xlabel)
        ax.set_xlabel(" / ".join(sorted(xlabels)))
        ax.set_ylabel("loss (nats/token)")
        ax.legend(fontsize=8)
        return _png(fig)


def mixture(rows: Sequence[tuple[str, float, float, float]]) -> str:
    """(source, planned tokens, drawn tokens, epochs drawn) per source: paired bars, epochs labelled."""
    with _figure(8, 0.5 * len(rows) + 1.2) as fig:
        ax = fig.subplots()
        y = np.arange(len(rows))
        ax.barh(y - 0.2, [r[1] for r in rows], height=0.4, color=COLORS[7], label="planned")
        drawn = [r[2] if np.isfinite(r[2]) else 0.0 for r in rows]
        ax.barh(y + 0.2, drawn, height=0.4, color=COLORS[0], label="drawn")
        ax.set_yticks(y, [_short(r[0], 30) for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("training tokens per source")
        for yi, d, (_, _, _, epochs) in zip(y, drawn, rows):
            if np.isfinite(epochs):
                ax.annotate(f"{epochs:.2f} epochs", (d, yi + 0.2), **_VALUE_LABEL)
        ax.margins(x=0.18)
        ax.grid(axis="y", visible=False)
        ax.legend(fontsize=8)
        return _png(fig)
