#!/usr/bin/env bash
# Installs the Codette Desktop bundle for the current user (no root needed):
#
#   ~/.local/opt/codette-desktop/                 the bundle (a copy, or a symlink with --link)
#   ~/.local/bin/codette-desktop                  symlink to its executable
#   ~/.local/share/applications/codette-desktop.desktop
#   ~/.local/share/icons/hicolor/<N>x<N>/apps/codette-desktop.png   (16 ... 256)
#
# Usage:
#   packaging/install-linux.sh [--bundle DIR] [--link] [--force]   install (or update)
#   packaging/install-linux.sh --uninstall [--purge]               remove all of the above,
#        and the "Start at login" entry ~/.config/autostart/codette-desktop.desktop;
#        --purge also deletes settings, chat memory, logs and the numba cache.
#   (packaging/uninstall-linux.sh [--purge] is the same as --uninstall.)
#
# DIR defaults to the bundle this script sits in (the build copies it into the bundle), or
# dist/codette-desktop-<version> when run from a source checkout. Honours $HOME,
# $XDG_DATA_HOME (applications, icons; also where the app keeps its data),
# $XDG_CONFIG_HOME (autostart) and $XDG_CACHE_HOME.
set -euo pipefail
# bash 5.2 treats "&" and "\" in ${var//pattern/replacement} specially; keep them literal.
shopt -u patsub_replacement 2>/dev/null || true

APP=codette-desktop
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "install-linux: $*" >&2; exit 1; }
say() { echo "install-linux: $*"; }

action=install
bundle=""
link=0
force=0
purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || die "--bundle needs a folder"; bundle="$2"; shift 2 ;;
    --bundle=*) bundle="${1#--bundle=}"; shift ;;
    --link) link=1; shift ;;
    --force) force=1; shift ;;
    --uninstall) action=uninstall; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
done

[ -n "${HOME:-}" ] || die "HOME is not set"
abs_or_default() {  # XDG variables must be absolute paths, otherwise they are ignored
  case "${1:-}" in /*) echo "$1" ;; *) echo "$2" ;; esac
}
data_home="$(abs_or_default "${XDG_DATA_HOME:-}" "$HOME/.local/share")"
config_home="$(abs_or_default "${XDG_CONFIG_HOME:-}" "$HOME/.config")"
cache_home="$(abs_or_default "${XDG_CACHE_HOME:-}" "$HOME/.cache")"
opt_dir="$HOME/.local/opt/$APP"
bin_link="$HOME/.local/bin/$APP"
desktop_file="$data_home/applications/$APP.desktop"
icon_root="$data_home/icons/hicolor"
autostart_file="$config_home/autostart/$APP.desktop"
ICON_SIZES="16 22 24 32 48 64 128 256"

refresh_caches() {
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$data_home/applications" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$icon_root/index.theme" ]; then
    gtk-update-icon-cache -q -t "$icon_root" 2>/dev/null || true
  fi
}

# Points into our install folder (also when dangling)?
is_our_link() {
  [ -L "$1" ] || return 1
  case "$(readlink "$1")" in "$opt_dir"|"$opt_dir"/*) return 0 ;; *) return 1 ;; esac
}

uninstall() {
  local removed=0 size
  if is_our_link "$bin_link"; then rm -f "$bin_link"; removed=1
  elif [ -e "$bin_link" ] || [ -L "$bin_link" ]; then
    say "left $bin_link alone: it is not ours (a pip --user install?)"
  fi
  [ -e "$desktop_file" ] && { rm -f "$desktop_file"; removed=1; }
  for size in $ICON_SIZES; do
    local icon="$icon_root/${size}x${size}/apps/$APP.png"
    [ -e "$icon" ] && { rm -f "$icon"; removed=1; }
  done
  [ -e "$autostart_file" ] && { rm -f "$autostart_file"; removed=1; }
  if [ -L "$opt_dir" ]; then rm -f "$opt_dir"; removed=1
  elif [ -d "$opt_dir" ]; then rm -rf "$opt_dir"; removed=1; fi
  rmdir "$HOME/.local/opt" 2>/dev/null || true
  if [ "$purge" -eq 1 ]; then
    for d in "$data_home/$APP" "$cache_home/$APP"; do
      [ -e "$d" ] && { rm -rf "$d"; say "deleted $d"; }
    done
  fi
  refresh_caches
  if [ "$removed" -eq 1 ]; then say "uninstalled"; else say "nothing to uninstall"; fi
  if [ "$purge" -eq 0 ] && [ -d "$data_home/$APP" ]; then
    say "kept your settings, memory and logs in $data_home/$APP (--purge deletes them)"
  fi
}

# Desktop Entry spec, "The Exec key": quote an argument that has reserved characters.
exec_quote() {
  local arg="${1//%/%%}"
  case "$arg" in
    *[[:space:]\"\'\\\>\<~\|\&\;\$\*\?\#\(\)\`]*)
      arg="${arg//\\/\\\\}"     # quoting rule: \ " ` $ take a backslash inside quotes
      arg="${arg//\"/\\\"}"
      arg="${arg//\`/\\\`}"
      arg="${arg//\$/\\\$}"
      arg="${arg//\\/\\\\}"     # string rule (applied first when reading): \ -> \\
      printf '"%s"' "$arg" ;;
    *) printf '%s' "$arg" ;;
  esac
}

find_bundle() {
  if [ -n "$bundle" ]; then
    bundle="$(cd "$bundle" 2>/dev/null && pwd)" || die "no such folder: $bundle"
  elif [ -x "$here/$APP" ] && [ -d "$here/_internal" ]; then
    bundle="$here"  # this script was copied into the bundle
  else
    local repo version
    repo="$(cd "$here/.." && pwd)"
    [ -f "$repo/pyproject.toml" ] || die "no bundle given (--bundle DIR) and no source checkout"
    version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)"
    bundle="$repo/dist/$APP-$version"
    [ -d "$bundle" ] || die "$bundle does not exist: run packaging/build.sh first"
  fi
  [ -x "$bundle/$APP" ] || die "$bundle has no executable $APP"
}

install() {
  find_bundle
  local template="" version="" icons="$bundle/_internal/resources/icons" size
  for t in "$bundle/linux/$APP.desktop" "$here/linux/$APP.desktop"; do
    [ -f "$t" ] && { template="$t"; break; }
  done
  [ -n "$template" ] || die "the desktop entry template linux/$APP.desktop is missing"
  [ -d "$icons" ] || die "$icons is missing (not a Codette Desktop bundle?)"
  version="$(basename "$bundle")"; version="${version#"$APP"-}"
  [ "$version" = "$(basename "$bundle")" ] && version="unknown"

  if { [ -e "$bin_link" ] || [ -L "$bin_link" ]; } && ! is_our_link "$bin_link" \
      && [ "$force" -eq 0 ]; then
    die "$bin_link exists and is not ours (a pip --user install?); remove it or use --force"
  fi

  # 1. The bundle itself: replace any earlier install.
  mkdir -p "$HOME/.local/opt"
  if [ "$bundle" = "$opt_dir" ]; then
    :  # the installed copy's own installer: refresh the command, icons and menu entry only
  else
    if [ -L "$opt_dir" ]; then rm -f "$opt_dir"; else rm -rf "$opt_dir"; fi
    if [ "$link" -eq 1 ]; then
      ln -s "$bundle" "$opt_dir"
    else
      # Copy next to the target, then rename: an interrupted copy never looks installed.
      local staging="$opt_dir.new.$$"
      rm -rf "$staging"
      cp -a "$bundle" "$staging"
      mv "$staging" "$opt_dir"
    fi
  fi
  local exe="$opt_dir/$APP"

  # 2. The command.
  mkdir -p "$(dirname "$bin_link")"
  ln -sfn "$exe" "$bin_link"

  # 3. Icons (hicolor theme, every size the bundle has).
  local installed_icon=0
  for size in $ICON_SIZES; do
    local src="$icons/codette-$size.png"
    [ "$size" = 256 ] && [ ! -f "$src" ] && src="$icons/codette.png"
    if [ -f "$src" ]; then
      mkdir -p "$icon_root/${size}x${size}/apps"
      cp -f "$src" "$icon_root/${size}x${size}/apps/$APP.png"
      installed_icon=1
    fi
  done
  [ "$installed_icon" -eq 1 ] || die "no icons found in $icons"

  # 4. The menu entry, from the template.
  local exec_value tmp
  exec_value="$(exec_quote "$exe")"
  mkdir -p "$(dirname "$desktop_file")"
  tmp="$desktop_file.tmp.$$"
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line//@EXEC@/"$exec_value"}"
    line="${line//@TRYEXEC@/"$exe"}"
    line="${line//@VERSION@/"$version"}"
    printf '%s\n' "$line"
  done <"$template" >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$desktop_file"
  if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$desktop_file" || die "$desktop_file does not validate"
  fi
  refresh_caches

  say "installed Codette Desktop $version"
  say "  app:     $opt_dir$([ "$link" -eq 1 ] && echo " -> $bundle")"
  say "  command: $bin_link"
  say "  menu:    $desktop_file"
  case ":$PATH:" in *":$HOME/.local/bin:"*) ;; *)
    say "note: $HOME/.local/bin is not on your PATH; the menu entry works regardless" ;;
  esac
}

case "$action" in
  install) install ;;
  uninstall) uninstall ;;
esac
