# edgegw install script for Windows. Run it from the unzipped folder in an
# elevated PowerShell ("Run as administrator"):
#
#   powershell -ExecutionPolicy Bypass -File .\install.ps1
#
# It copies edgegw.exe and uninstall.ps1 to %ProgramFiles%\edgegw, creates
# %ProgramData%\edgegw (config and data), copies the Windows example config
# (COM ports; edgegw init --windows) there unless one exists, checks it,
# installs the Windows service (automatic start, logs in the Event Log under
# "edgegw"), sets its recovery actions with sc.exe (restart 5 s after a
# failure, the count reset after a day without one) and starts it.
# Run it again after unzipping a new version to upgrade: the config and the
# data are kept. To remove it: uninstall.ps1 (keeps the data unless -Purge).
#
# Restart policy: the SCM's recovery action restarts the service 5 s after
# the process ends without reporting itself stopped (a crash, exit 2; a full
# disk, 75; any other failure). On an invalid config (exit 78) or a usage
# error (64) the gateway asks the SCM to stop the service instead, so that
# it is not restarted into the same error every 5 s: the service shows
# stopped and the Event Log has the problems; fix the config (edgegw
# validate), then edgegw service start. Exit codes: docs/install.md,
# section 9.
#Requires -RunAsAdministrator
$ErrorActionPreference = "Stop"

$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$bin = Join-Path $env:ProgramFiles "edgegw"
$data = Join-Path $env:ProgramData "edgegw"
$exe = Join-Path $bin "edgegw.exe"
$config = Join-Path $data "edgegw.yaml"

New-Item -ItemType Directory -Force -Path $bin | Out-Null
New-Item -ItemType Directory -Force -Path $data | Out-Null

# Upgrade: stop and remove the old service first, keep config and data.
if (Get-Service -Name edgegw -ErrorAction SilentlyContinue) {
    Write-Host "Stopping the running edgegw service"
    # No 2>$null on native commands: Windows PowerShell 5.1 turns redirected
    # stderr into errors, which "Stop" makes fatal. Exit codes are checked.
    & $exe service stop --config $config
    & $exe service uninstall --config $config
    if ($LASTEXITCODE -ne 0) { throw "service uninstall failed (exit $LASTEXITCODE)" }
}

Copy-Item -Force (Join-Path $here "edgegw.exe") $exe
Copy-Item -Force (Join-Path $here "uninstall.ps1") (Join-Path $bin "uninstall.ps1")
# Only administrators and SYSTEM may read the config (it holds the status
# password hash and the uplink key).
icacls $data /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" | Out-Null
if (-not (Test-Path $config)) {
    # First install: the example names COM ports this PC may not have. The
    # service is installed once the admin has edited and checked it.
    Copy-Item (Join-Path $here "edgegw.example.yaml") $config
    Write-Host "Wrote $config from the Windows example. Next steps:"
    Write-Host "  1. edit it (COM ports: edgegw ports; devices, outputs, uplink)"
    Write-Host "  2. check it: & '$exe' validate '$config'"
    Write-Host "  3. run this script again: it installs and starts the service"
    exit 0
}

& $exe validate $config
if ($LASTEXITCODE -ne 0) {
    Write-Host "The config has errors (above). Fix $config and run this script again."
    exit 1
}

& $exe service install --config $config
if ($LASTEXITCODE -ne 0) { throw "service install failed" }
# Recovery actions (services.msc, Recovery tab): restart 5 s after each of
# the first three failures; the failure count resets after 86400 s (a day).
# A failure is a crash (exit 2) or any exit without reporting "stopped"; an
# invalid config stops the service cleanly and is not restarted.
& sc.exe failure edgegw reset= 86400 actions= restart/5000/restart/5000/restart/5000 | Out-Null
if ($LASTEXITCODE -ne 0) { throw "sc.exe failure edgegw failed (exit $LASTEXITCODE)" }
& $exe service start --config $config
if ($LASTEXITCODE -ne 0) { throw "service start failed" }

Start-Sleep -Seconds 3
& $exe status --config $config
Write-Host "edgegw is installed. Status page: http://127.0.0.1:8780"
Write-Host "Recovery actions: sc.exe qfailure edgegw. Remove: & '$bin\uninstall.ps1' [-Purge]"
