"""The MotherFluxer router: one FastAPI app hosted by Mangum, Lambda Web Adapter or uvicorn."""
