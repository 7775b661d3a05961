#!/usr/bin/env python3
"""Writes a compose file with N services: depends_on chains of 10, a few networks
and volumes, ports and environment, so the planner has a realistic graph."""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
out = ["name: bench", "services:"]
for i in range(n):
    out.append(f"  svc{i}:")
    out.append(f"    image: busybox:1.{i % 7}")
    out.append(f"    command: [\"sleep\", \"{i}\"]")
    out.append(f"    environment: [INDEX={i}, ROLE=r{i % 5}]")
    out.append(f"    networks: [net{i % 4}]")
    out.append(f"    volumes: [\"vol{i % 8}:/data\"]")
    if i % 3 == 0:
        out.append(f"    ports: [\"{20000 + i}:80\"]")
    if i % 10:
        cond = "service_healthy" if i % 10 == 5 else "service_started"
        out.append(f"    depends_on: {{svc{i - 1}: {{condition: {cond}}}}}")
    out.append("    healthcheck: {test: [\"CMD\", \"true\"], interval: 5s}")
out.append("networks:")
out += [f"  net{k}: {{}}" for k in range(4)]
out.append("volumes:")
out += [f"  vol{k}: {{}}" for k in range(8)]
print("\n".join(out))
