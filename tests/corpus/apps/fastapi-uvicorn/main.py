from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from routers import items

app = FastAPI(title="Inventory API", version="0.1.0")

app.include_router(items.router)


@app.get("/", response_class=HTMLResponse)
async def root():
    return """
    <html>
        <head><title>Inventory API</title></head>
        <body>
            <h1>Inventory API</h1>
            <p>See <a href="/docs">/docs</a> or <a href="/items/">/items/</a>.</p>
        </body>
    </html>
    """


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app)
