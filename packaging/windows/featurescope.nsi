; Featurescope Windows installer (NSIS 3, Modern UI 2, 64-bit, per-machine or per-user).
; Built by packaging/windows/build.ps1 after PyInstaller has made the one-folder bundle:
;   makensis /DVERSION=0.1.0 /DFLAVOUR=cpu /DBUNDLE=dist\cpu\featurescope /DOUTFILE=dist\... featurescope.nsi
; The bundle holds Featurescope.exe (GUI, no console) and featurescope-cli.exe (console).
Unicode true
ManifestDPIAware true
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "pass /DVERSION=x.y.z (from pyproject.toml)"
!endif
!ifndef BUNDLE
  !error "pass /DBUNDLE=path\to\dist\FLAVOUR\featurescope"
!endif
!ifndef FLAVOUR
  !define FLAVOUR cpu
!endif
!ifndef OUTFILE
  !define OUTFILE "featurescope-${VERSION}-windows-x64-${FLAVOUR}-setup.exe"
!endif
!ifndef ICON
  !define ICON "${BUNDLE}\_internal\resources\icons\featurescope.ico"
!endif

!define APPNAME "Featurescope"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Featurescope"
!define MULTIUSER_EXECUTIONLEVEL Highest
!define MULTIUSER_MUI
!define MULTIUSER_INSTALLMODE_COMMANDLINE
!define MULTIUSER_USE_PROGRAMFILES64
!define MULTIUSER_INSTALLMODE_INSTDIR "Featurescope"
!include MultiUser.nsh
!include MUI2.nsh
!include x64.nsh
!include FileFunc.nsh

Name "${APPNAME} ${VERSION}"
OutFile "${OUTFILE}"
BrandingText "${APPNAME} ${VERSION} (${FLAVOUR})"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APPNAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APPNAME} installer"
VIAddVersionKey "LegalCopyright" "Apache-2.0; third-party licences in _internal\third_party_licenses"

!if /FileExists "${ICON}"
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\Featurescope.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start Featurescope (opens the demo model)"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MULTIUSER_PAGE_INSTALLMODE
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "Featurescope needs 64-bit Windows 10 or newer."
    Abort
  ${EndIf}
  !insertmacro MULTIUSER_INIT
FunctionEnd

Function un.onInit
  !insertmacro MULTIUSER_UNINIT
FunctionEnd

Section "Featurescope" SecApp
  SectionIn RO
  SetOutPath "$INSTDIR"
  ; A reinstall replaces the whole bundle: stale DLLs from an older version must not stay.
  RMDir /r "$INSTDIR\_internal"
  File /r "${BUNDLE}\*.*"
  WriteUninstaller "$INSTDIR\Uninstall.exe"
  CreateShortcut "$SMPROGRAMS\Featurescope.lnk" "$INSTDIR\Featurescope.exe"
  WriteRegStr SHCTX "${UNINSTKEY}" "DisplayName" "${APPNAME}"
  WriteRegStr SHCTX "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr SHCTX "${UNINSTKEY}" "Publisher" "Featurescope"
  WriteRegStr SHCTX "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\Featurescope.exe"
  WriteRegStr SHCTX "${UNINSTKEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr SHCTX "${UNINSTKEY}" "UninstallString" '"$INSTDIR\Uninstall.exe" /$MultiUser.InstallMode'
  WriteRegStr SHCTX "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /$MultiUser.InstallMode /S'
  WriteRegDWORD SHCTX "${UNINSTKEY}" "NoModify" 1
  WriteRegDWORD SHCTX "${UNINSTKEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD SHCTX "${UNINSTKEY}" "EstimatedSize" "$0"
SectionEnd

Section "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\Featurescope.lnk" "$INSTDIR\Featurescope.exe"
SectionEnd

Section "Open .onnx files with Featurescope" SecAssoc
  WriteRegStr SHCTX "Software\Classes\.onnx\OpenWithProgids" "Featurescope.onnx" ""
  WriteRegStr SHCTX "Software\Classes\Featurescope.onnx" "" "ONNX model"
  WriteRegStr SHCTX "Software\Classes\Featurescope.onnx\DefaultIcon" "" "$INSTDIR\Featurescope.exe,0"
  WriteRegStr SHCTX "Software\Classes\Featurescope.onnx\shell\open\command" "" '"$INSTDIR\Featurescope.exe" "%1"'
SectionEnd

Section "Uninstall"
  Delete "$SMPROGRAMS\Featurescope.lnk"
  Delete "$DESKTOP\Featurescope.lnk"
  DeleteRegKey SHCTX "Software\Classes\Featurescope.onnx"
  DeleteRegValue SHCTX "Software\Classes\.onnx\OpenWithProgids" "Featurescope.onnx"
  DeleteRegKey SHCTX "${UNINSTKEY}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\Featurescope.exe"
  Delete "$INSTDIR\featurescope-cli.exe"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
SectionEnd
