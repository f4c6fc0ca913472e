# Build Featurescope's Windows bundle and installer, on Windows 10/11 x64 (PowerShell 5.1 or 7):
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-Flavour cpu|cuda]
# Needs: Python 3.12 x64 from python.org (the "py" launcher), NSIS 3 (makensis on PATH or in
# "C:\Program Files (x86)\NSIS"). Network: PyPI only.
# Steps: build venv from the hashed lock (constraints-cpu.txt or constraints-cuda-windows.txt),
# PyInstaller with packaging\featurescope.spec -> dist\FLAVOUR\featurescope\ (Featurescope.exe,
# featurescope-cli.exe, _internal\), a quick check of featurescope-cli.exe, then makensis ->
# dist\featurescope-VERSION-windows-x64-FLAVOUR-setup.exe
param([ValidateSet("cpu", "cuda")][string]$Flavour = "cpu")
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Root
$Version = (Select-String -Path pyproject.toml -Pattern '^version\s*=\s*"([^"]+)"').Matches[0].Groups[1].Value
$Lock = if ($Flavour -eq "cuda") { "packaging\constraints-cuda-windows.txt" } else { "packaging\constraints-cpu.txt" }
$Venv = "build\venv-$Flavour-windows"
$Dist = "dist\$Flavour"

$t0 = Get-Date
if (-not (Test-Path "$Venv\Scripts\python.exe")) {
    py -3.12 -m venv $Venv
    if ($LASTEXITCODE) { throw "Python 3.12 (py -3.12) is needed" }
    & "$Venv\Scripts\python.exe" -m pip install -q --disable-pip-version-check --no-deps `
        --require-hashes --only-binary=:all: -r $Lock
    if ($LASTEXITCODE) { throw "pip install from $Lock failed" }
}
$t1 = Get-Date
if (Test-Path $Dist) { Remove-Item -Recurse -Force $Dist }
$env:FEATURESCOPE_FLAVOUR = $Flavour
$env:PYTHONHASHSEED = "0"
& "$Venv\Scripts\python.exe" -m PyInstaller --noconfirm --clean --log-level WARN `
    --distpath $Dist --workpath "build\pyinstaller-$Flavour-windows" packaging\featurescope.spec
if ($LASTEXITCODE) { throw "PyInstaller failed" }
$Bundle = "$Dist\featurescope"
$t2 = Get-Date

# The bundle must answer without any Python on PATH.
$env:PATH = "$env:SystemRoot\System32;$env:SystemRoot"
& "$Bundle\featurescope-cli.exe" --info
if ($LASTEXITCODE) { throw "featurescope-cli.exe --info failed" }
& "$Bundle\featurescope-cli.exe" inspect "$Bundle\_internal\resources\models\efficientnet_lite0.onnx" | Out-Null
if ($LASTEXITCODE) { throw "featurescope-cli.exe inspect failed" }

# Installer icon from the PNG (Pillow is in the build venv).
$Ico = "build\featurescope.ico"
& "$Venv\Scripts\python.exe" -c "from PIL import Image; Image.open('resources/icons/featurescope.png').save(r'$Ico', sizes=[(16,16),(32,32),(48,48),(64,64),(128,128),(256,256)])"
$Makensis = (Get-Command makensis -ErrorAction SilentlyContinue).Source
if (-not $Makensis) { $Makensis = "${env:ProgramFiles(x86)}\NSIS\makensis.exe" }
$Out = "$Root\dist\featurescope-$Version-windows-x64-$Flavour-setup.exe"
& $Makensis /V2 "/DVERSION=$Version" "/DFLAVOUR=$Flavour" "/DBUNDLE=$Root\$Bundle" "/DICON=$Root\$Ico" `
    "/DOUTFILE=$Out" packaging\windows\featurescope.nsi
if ($LASTEXITCODE) { throw "makensis failed" }
$t3 = Get-Date
$BundleMB = [math]::Round(((Get-ChildItem -Recurse $Bundle | Measure-Object Length -Sum).Sum) / 1MB)
$SetupMB = [math]::Round((Get-Item $Out).Length / 1MB)
"venv {0:N0} s, PyInstaller {1:N0} s, installer {2:N0} s; bundle $BundleMB MB, setup $SetupMB MB: $Out" -f `
    ($t1 - $t0).TotalSeconds, ($t2 - $t1).TotalSeconds, ($t3 - $t2).TotalSeconds
