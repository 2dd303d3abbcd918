"""What the applications share: one trainer built on the spine's training step (make_step, the
seam with mg.compile), the progress bar whose ETA starts after the first (compiling) call, the
configs on the config base and the options generated from them, the resumable runner, and the
model files (safetensors + JSON)."""
