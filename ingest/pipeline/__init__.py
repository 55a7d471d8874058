"""One source refresh: pages through the stages into the index and the store. A page is decided
as a pure plan (plan.py) and carried out by one effectful apply (apply.py); the Refresher
(refresher.py) runs the pages of a sync, reindex or reprocess under the source's lock."""

from ingest.pipeline.parts import PageHook, PipelineParts, Progress
from ingest.pipeline.refresher import Refresher, safe_error

__all__ = ["PageHook", "PipelineParts", "Progress", "Refresher", "safe_error"]
