"""What the applications share: one trainer built on the spine's training step (make_step, the
seam with mg.compile), the progress bar whose ETA starts after the first (compiling) call, and
the results rows each application keeps."""
