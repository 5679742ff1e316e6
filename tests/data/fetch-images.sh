#!/usr/bin/env bash
# Fetch photographs with faces from Debian 12 packages, for the face
# detector's tests and benchmarks: tests/data/fetch-images.sh [DIR]
# (default build/test-images).  Nothing is installed: each package is
# fetched with `apt-get download` into a temporary directory and only the
# image files are taken out of it.  Running it again with every image in
# place does nothing.  No image is committed to the repository.
#
# Each line: package | path inside the package | faces OpenCV 4.6 finds
# (lbpcascade_frontalface_improved, scale 1.1, 3 neighbours; Haar
# frontalface_default in brackets) | licence, from the package's
# /usr/share/doc/<package>/copyright.
#
# python-matplotlib-data | usr/share/matplotlib/mpl-data/sample_data/
#   grace_hopper.jpg: 1 [1]; 512x600.  Matplotlib licence (PSF-based,
#   BSD-compatible; copyright "Files: *").  A U.S. Navy portrait.
# python3-skimage | usr/lib/python3/dist-packages/skimage/data/
#   astronaut.png: 1 [1]; 512x512.  BSD-3-Clause (copyright "Files: *");
#   upstream's docstring: NASA, no known copyright, public domain.
# kphotoalbum | usr/share/kphotoalbum/demo/ (KPhotoAlbum's demo album)
#   bar55.jpg: 2 [5]; 800x600, a group in a bar (more faces, dim, turned).
#   bar55_2.jpg: 2 [3]; 800x600, two people.
#   qt-logo.jpg: 4 [6]; 800x542, three men (3 faces, and 1 false
#     positive on a tattoo).
#   jesper_2.jpg: 1 [1]; 800x532, a close-up.
#   anne_helene.jpg: 1 [1]; 400x600, a small face on a beach.
#   GPL-2+ (the copyright file covers the whole package, © 2003-2014
#   Jesper K. Pedersen and others).
# gramps | usr/share/doc/gramps/example/gramps/ (Gramps' example tree)
#   E_W_Dahlgren.jpg: 1 [1]; 703x622, an old portrait.
#   654px-Aksel_Andersson.jpg: 1 [1]; 654x600, an old portrait.
#   1897_expeditionsmannschaft_rio_a.jpg: 0 [3]; 500x347, five men whose
#     faces are ~15 px, under the LBP model's 24 px window: a hard case.
#   GPL-2+ (copyright "Files: *", The Gramps Project); historical
#   photographs from Wikimedia Commons.
set -euo pipefail

dir=${1:-build/test-images}
if [ $# -gt 1 ] || [[ $dir == -* ]]; then
	echo "usage: tests/data/fetch-images.sh [DIR]" >&2
	exit 2
fi

mpl=usr/share/matplotlib/mpl-data/sample_data
ski=usr/lib/python3/dist-packages/skimage/data
kpa=usr/share/kphotoalbum/demo
gra=usr/share/doc/gramps/example/gramps
images=(
	"python-matplotlib-data $mpl/grace_hopper.jpg"
	"python3-skimage $ski/astronaut.png"
	"kphotoalbum $kpa/bar55.jpg"
	"kphotoalbum $kpa/bar55_2.jpg"
	"kphotoalbum $kpa/qt-logo.jpg"
	"kphotoalbum $kpa/jesper_2.jpg"
	"kphotoalbum $kpa/anne_helene.jpg"
	"gramps $gra/E_W_Dahlgren.jpg"
	"gramps $gra/654px-Aksel_Andersson.jpg"
	"gramps $gra/1897_expeditionsmannschaft_rio_a.jpg"
)

# Which packages are still needed (an image already there is kept).
need=()
for entry in "${images[@]}"; do
	read -r pkg path <<<"$entry"
	if [ ! -s "$dir/${path##*/}" ]; then
		[[ " ${need[*]} " == *" $pkg "* ]] || need+=("$pkg")
	fi
done
if [ ${#need[@]} -eq 0 ]; then
	echo "fetch-images: all ${#images[@]} images already in $dir"
	exit 0
fi

for tool in apt-get dpkg-deb tar; do
	if ! command -v "$tool" >/dev/null; then
		echo "fetch-images: $tool not found (Debian's apt is" \
			"needed)" >&2
		exit 1
	fi
done

mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt downloads as its unprivileged _apt user when run as root: let it
# write here (otherwise it warns and downloads as root).
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
	chown _apt "$tmp"
fi

download() {
	(cd "$tmp" && apt-get download -q=2 "$@") 2>"$tmp/apt.err"
}

echo "fetch-images: downloading ${need[*]}"
if ! download "${need[@]}"; then
	# The package lists may be missing or stale (a fresh machine).
	if [ "$(id -u)" -eq 0 ]; then
		echo "fetch-images: apt-get download failed; running" \
			"apt-get update and trying again" >&2
		apt-get update -qq
		download "${need[@]}" || {
			cat "$tmp/apt.err" >&2
			echo "fetch-images: cannot download ${need[*]}" >&2
			exit 1
		}
	else
		cat "$tmp/apt.err" >&2
		echo "fetch-images: cannot download ${need[*]} (as root:" \
			"apt-get update, then run this again)" >&2
		exit 1
	fi
fi

n=0
for entry in "${images[@]}"; do
	read -r pkg path <<<"$entry"
	name=${path##*/}
	[ -s "$dir/$name" ] && continue
	debs=("$tmp/${pkg}_"*.deb)
	if [ ! -f "${debs[0]}" ]; then
		echo "fetch-images: $pkg: no .deb was downloaded" >&2
		exit 1
	fi
	mkdir -p "$tmp/x"
	if ! dpkg-deb --fsys-tarfile "${debs[0]}" |
		tar -x -C "$tmp/x" "./$path" 2>"$tmp/tar.err"; then
		cat "$tmp/tar.err" >&2
		echo "fetch-images: $pkg $(dpkg-deb -f "${debs[0]}" Version)" \
			"has no $path" >&2
		exit 1
	fi
	install -m 0644 "$tmp/x/$path" "$dir/$name.part"
	mv "$dir/$name.part" "$dir/$name"
	printf 'fetch-images: %-40s %8s bytes  from %s %s\n' "$dir/$name" \
		"$(stat -c %s "$dir/$name")" "$pkg" \
		"$(dpkg-deb -f "${debs[0]}" Version)"
	n=$((n + 1))
done
echo "fetch-images: $n new, ${#images[@]} images in $dir"
