"""Local servers that speak the cloud engines' real protocols (Google's gRPC, OpenAI's SSE),
with latency profiles, for benchmarks and for testing the real client libraries."""
