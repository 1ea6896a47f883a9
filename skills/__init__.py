"""costhq.skills: agent skills shipped with the package (OpenClaw `CostHQ`); `cs skill path` prints it."""
