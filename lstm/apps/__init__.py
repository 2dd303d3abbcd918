"""Applications as packages: each lstm/apps/<name>/ exports one object (command, run, report
section, asv cases)."""
