# edgegw install script for Windows. Run it from the unzipped folder in an
# elevated PowerShell ("Run as administrator"):
#
#   powershell -ExecutionPolicy Bypass -File .\install.ps1
#
# It copies edgegw.exe to %ProgramFiles%\edgegw, creates %ProgramData%\edgegw
# (config and data), copies the example config there unless one exists,
# checks it, installs the Windows service (automatic start, restart on
# failure after 5 s, logs in the Event Log under "edgegw") and starts it.
# Run it again after unzipping a new version to upgrade: the config and the
# data are kept.
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
    & $exe service stop --config $config 2>$null
    & $exe service uninstall --config $config
}

Copy-Item -Force (Join-Path $here "edgegw.exe") $exe
if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $here "edgegw.example.yaml") $config
    Write-Host "Wrote $config from the example: edit the ports, then run this script again"
}
# Only administrators and SYSTEM may read the config (it holds the status
# password hash and the uplink key).
icacls $data /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" | Out-Null

& $exe validate $config
if ($LASTEXITCODE -ne 0) {
    Write-Host "The config has errors (above). Fix $config and run this script again."
    exit 1
}

& $exe service install --config $config
if ($LASTEXITCODE -ne 0) { throw "service install failed" }
& $exe service start --config $config
if ($LASTEXITCODE -ne 0) { throw "service start failed" }

Start-Sleep -Seconds 3
& $exe status --config $config
Write-Host "edgegw is installed. Status page: http://127.0.0.1:8780"
