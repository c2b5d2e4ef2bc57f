from dataclasses import dataclass, field
from datetime import datetime, timezone

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from pathlib import Path

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class Link:
    url: str
    title: str
    added: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


LINKS: list[Link] = [
    Link("https://www.starlette.io/", "Starlette docs"),
    Link("https://www.uvicorn.org/", "Uvicorn docs"),
]


async def homepage(request: Request):
    return templates.TemplateResponse(request, "index.html", {"links": LINKS})


async def add_link(request: Request):
    form = await request.form()
    url = str(form.get("url", "")).strip()
    if url:
        LINKS.insert(0, Link(url, str(form.get("title") or url)))
    return RedirectResponse(request.url_for("homepage"), status_code=303)


async def api_links(request: Request):
    return JSONResponse([{"url": l.url, "title": l.title} for l in LINKS])


routes = [
    Route("/", homepage, name="homepage"),
    Route("/links", add_link, methods=["POST"]),
    Route("/api/links", api_links),
]

app = Starlette(routes=routes)
