"""The file browser of the learner's course server: the top of the course folder shows the learner's own
folders (lessons, labs, their work), not the library, tests or solutions an instructor's checkout holds."""
from __future__ import annotations

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from traitlets import List, Unicode


class CourseContentsManager(AsyncLargeFileManager):
    """Jupyter Server's file manager with the course root's listing limited to ``shown_folders``.

    Everything below those folders is listed as usual. Only the listing changes: kernels, terminals and
    ``medai lab start`` still work in the course folder, so paths in notebooks are those of the checkout.
    """

    shown_folders = List(
        Unicode(), default_value=["course", "labs", "work"],
        help="Names listed at the top of the course folder (the others exist but are not shown).",
    ).tag(config=True)

    async def _dir_model(self, path, content=True):
        model = await super()._dir_model(path, content=content)
        if content and path.strip("/") == "":
            model["content"] = [item for item in model["content"] if item["name"] in self.shown_folders]
        return model
