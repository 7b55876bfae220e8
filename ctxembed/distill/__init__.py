"""`ctxembed distill`: static model2vec models distilled from a (LoRA-adapted) contextual teacher, then tuned
on the domain. An optional part: importing it checks its extras (`pip install 'ctxembed[distill]'`), as
model2vec's own `distill` package does. The result is a plain model2vec folder, which the static backend
loads (`ctxembed.static.distilled`) without these extras' training parts.
"""

from __future__ import annotations

from ctxembed.distill.distillation import distill_static, require_distill_extras
from ctxembed.distill.settings import DistillConfig

require_distill_extras()

__all__ = ["DistillConfig", "distill_static"]
