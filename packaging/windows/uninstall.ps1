# edgegw uninstall script for Windows: undoes install.ps1. Run it in an
# elevated PowerShell ("Run as administrator"), from the unzipped folder or
# from %ProgramFiles%\edgegw where install.ps1 copied it:
#
#   powershell -ExecutionPolicy Bypass -File .\uninstall.ps1           # keep config and data
#   powershell -ExecutionPolicy Bypass -File .\uninstall.ps1 -Purge    # delete them too
#
# It stops the edgegw service, removes it (and its Event Log source) and
# deletes %ProgramFiles%\edgegw. The config and the data in
# %ProgramData%\edgegw are kept, for a later install, unless -Purge is given.
param([switch]$Purge)
#Requires -RunAsAdministrator
$ErrorActionPreference = "Stop"

$bin = Join-Path $env:ProgramFiles "edgegw"
$data = Join-Path $env:ProgramData "edgegw"
$exe = Join-Path $bin "edgegw.exe"
$config = Join-Path $data "edgegw.yaml"

if (Get-Service -Name edgegw -ErrorAction SilentlyContinue) {
    Write-Host "Stopping and removing the edgegw service"
    Stop-Service -Name edgegw -ErrorAction SilentlyContinue
    if (Test-Path $exe) {
        # No 2>$null on native commands (Windows PowerShell 5.1 would make
        # their stderr fatal under "Stop"); the exit code is checked.
        & $exe service uninstall --config $config
    }
    if (Get-Service -Name edgegw -ErrorAction SilentlyContinue) {
        # No edgegw.exe left, or its uninstall failed: ask the SCM directly.
        & sc.exe delete edgegw | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe delete edgegw failed (exit $LASTEXITCODE)" }
    }
} else {
    Write-Host "The edgegw service is not installed"
}

if (Test-Path $bin) {
    Remove-Item -Recurse -Force $bin
    Write-Host "Removed $bin"
}
if ($Purge) {
    if (Test-Path $data) {
        Remove-Item -Recurse -Force $data
        Write-Host "Removed $data (config and data)"
    }
} else {
    Write-Host "Kept $data (config and data); run with -Purge to delete them"
}
