"""The ingest baseline: a bare FastAPI app that answers the beacon's POST with 202."""

from fastapi import FastAPI, Response

app = FastAPI()


@app.post("/v1/analytics/events", status_code=202)
async def events() -> Response:
    return Response(status_code=202)
