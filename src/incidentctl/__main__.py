from incidentctl.cli import console_script

console_script()
