"""What the evaluation sections show beyond their tables (see :mod:`toolkit.report.views`):
reliability curves, calibration before and after, ROC and PR curves, the learning curve."""

from __future__ import annotations

from typing import Any

__all__ = ["calibration_fix_view", "learning_curve_view", "reliability_view", "thresholds_view"]


def reliability_view(m: Any) -> str | None:
    """The metrics section's reliability diagram as the book draws it (SVG), or None."""
    if m.reliability is None:
        return None
    from toolkit.report.evaluation_figures import reliability_axes
    from toolkit.report.figures import to_svg

    return to_svg(reliability_axes(m.reliability))


def thresholds_view(result: Any, d: Any) -> dict[str, Any]:
    from toolkit.report.evaluation_figures import pr_axes, roc_axes
    from toolkit.report.figures import to_svg

    return {"roc": to_svg(roc_axes(result)), "pr": to_svg(pr_axes(result))}


def calibration_fix_view(check: Any, d: Any) -> dict[str, Any]:
    from toolkit.report.evaluation_figures import calibration_fix_axes
    from toolkit.report.figures import to_svg

    return {"figure": to_svg(calibration_fix_axes(check))}


def learning_curve_view(curve: Any, d: Any) -> dict[str, Any]:
    from toolkit.report.evaluation_figures import learning_curve_axes
    from toolkit.report.figures import to_svg

    return {"figure": to_svg(learning_curve_axes(curve))}
