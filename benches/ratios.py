"""Reads `name {json}` lines (from benches/peers.sh) and prints steps/s, grid points/s and
flowplay's ratio to each peer; flowplay's one-thread figure is compared with the peers'
one-thread runs where they have one."""
import json
import sys

rows = []
for line in sys.stdin:
    if line.strip():
        name, payload = line.split(" ", 1)
        rows.append((name, json.loads(payload)))
me = dict(rows).get("flowplay")
if me and "train_steps_per_sec_1_thread" in me:
    rows.insert(1, ("flowplay-1-thread", {
        "train_steps_per_sec": me["train_steps_per_sec_1_thread"],
        "grid_points_per_sec": float("nan"),
    }))
print()
print(f"{'':18} {'steps/s':>9} {'grid pts/s':>11}   flowplay / it: train, grid")
for name, r in rows:
    s, g = r["train_steps_per_sec"], r["grid_points_per_sec"]
    ratio = "-"
    if me and not name.startswith("flowplay"):
        ours = me["train_steps_per_sec_1_thread"] if name.endswith("1-thread") else me["train_steps_per_sec"]
        ratio = f"{ours / s:5.2f}x  {me['grid_points_per_sec'] / g:5.2f}x"
    print(f"{name:18} {s:9.1f} {g:11.0f}   {ratio}")
