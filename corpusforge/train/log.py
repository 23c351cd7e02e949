"""The run's record: `log.csv` (one row per optimizer step) and `loss.png`.

log.csv columns: step (1-based, optimizer steps done), tokens (seen so far, all devices), loss
(training loss of that step's batch), val_loss (empty unless evaluated after that step), lr,
tokens_per_s (all devices), mfu (0..1; empty off CUDA or for an unknown GPU); on a mixture, then
one `tokens:<source>` column per source: the training tokens drawn from it so far (all devices).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from corpusforge.io.atomic import atomic_path

COLUMNS = ["step", "tokens", "loss", "val_loss", "lr", "tokens_per_s", "mfu"]
log = logging.getLogger(__name__)


class TrainLog:
    def __init__(self, path: Path, keep_until: int | None = None, extra: list[str] | tuple[str, ...] = ()) -> None:
        """Start log.csv, or continue it after a resume from step `keep_until`: rows past it
        were written after the last checkpoint and are computed again, so they are dropped.
        `extra` columns follow COLUMNS (a mixture's `tokens:<source>`, tokens drawn so far)."""
        self.path, self.extra = path, list(extra)
        columns = COLUMNS + self.extra
        self.rows: list[dict[str, str]] = []
        if keep_until is not None and path.exists():
            with open(path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
        # Open for the whole run (closed by close()): one row appended and flushed per step.
        self._file = open(path, "a", newline="")  # noqa: SIM115
        self._writer = csv.DictWriter(self._file, columns)

    def write(
        self,
        step: int,
        tokens: int,
        loss: float,
        lr: float,
        tokens_per_s: float,
        mfu: float | None = None,
        val_loss: float | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        row = {
            "step": str(step),
            "tokens": str(tokens),
            "loss": f"{loss:.6f}",
            "val_loss": "" if val_loss is None else f"{val_loss:.6f}",
            "lr": f"{lr:.6e}",
            "tokens_per_s": f"{tokens_per_s:.1f}",
            "mfu": "" if mfu is None else f"{mfu:.4f}",
        } | (extra or {})
        self.rows.append(row)
        self._writer.writerow(row)
        self._file.flush()  # another process (the HTML report, `tail -f`) may read it mid-run

    def close(self) -> None:
        self._file.close()

    def plot(self, path: Path, title: str = "") -> None:
        """Training and validation loss against tokens seen; nothing when matplotlib is missing."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            log.warning("matplotlib is not installed: no %s (pip install matplotlib)", path.name)
            return
        tokens = [int(r["tokens"]) for r in self.rows]
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        ax.plot(tokens, [float(r["loss"]) for r in self.rows], lw=0.8, alpha=0.8, label="train")
        val = [(int(r["tokens"]), float(r["val_loss"])) for r in self.rows if r["val_loss"]]
        if val:
            ax.plot(*zip(*val), "o-", ms=3, label="validation")
        ax.set_xlabel("tokens")
        ax.set_ylabel("loss (nats/token)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
