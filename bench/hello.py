"""The baseline: a bare FastAPI hello-world, served the same way as the platform."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
