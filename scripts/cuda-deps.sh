#!/usr/bin/env bash
# Debian's libraries for a build on a machine without Debian's archive, such as a GPU machine
# that has PyTorch, the CUDA toolkit and a compiler but no apt: download the .deb files on a
# Debian bookworm machine, carry them over, unpack them there into a folder of their own.
#
#   scripts/cuda-deps.sh download .deps                  # on Debian bookworm (about 20 MB)
#   scripts/cuda-deps.sh unpack .deps /opt/srnn-deps     # on the other machine (needs dpkg)
#   DEPS_PREFIX=/opt/srnn-deps scripts/build-cuda.sh
#
# The download is the build's packages (libsndfile, soxr, FFTW, cairo, nlohmann-json, CLI11,
# GoogleTest, Google Benchmark, Gloo's headers, pkgconf) with everything they need, less what
# every Linux system has (the C library, libstdc++, zlib, ...), which must come from the
# machine itself. `unpack` writes <prefix>/env.sh, which sets the variables that make
# pkg-config, CMake, the loader and fontconfig use the folder; build-cuda.sh sources it.
set -euo pipefail

packages="libsndfile1-dev libsoxr-dev libfftw3-dev libcairo2-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libbenchmark-dev libgloo-dev pkgconf fonts-dejavu-core"
# The machine's own: the C and C++ runtimes and the base system, which must not be replaced,
# and packages that only install tools or data the build does not use.
system='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|rpcsvc-proto|libgcc-s1|libstdc\+\+6|gcc-12-base|libcrypt1|libcrypt-dev|libnsl.*|libtirpc.*|perl.*|libperl.*|lib.*-perl|python3.*|libpython3.*|dpkg|dpkg-dev|tar|debconf|cdebconf|libdebian-installer4|libnewt0.52|libslang2|libtextwrap1|bzip2|xz-utils|make|patch|binutils.*|libbinutils|mime-support|media-types|mailcap|readline-common|libreadline8|libncursesw6|libtinfo6|libsqlite3-0|libssl3|libdb5.3|libgdbm.*|libselinux1|libpcre2-(8|16|32|posix)-[0-9]+|zlib1g|libbz2-1.0|liblzma5|libzstd1|libmd0|libgssapi.*|libk5crypto3|libkrb5.*|libkeyutils1|libcom-err2|libuuid1|libblkid1|libmount1|libffi8|libexpat1|libpam.*|libaudit.*|libcap.*|libsystemd0|libacl1|libattr1|libelf1|coreutils|base-files|sensible-utils|install-info|tzdata|netbase|lsb-base|sysvinit-utils|init-system-helpers|libsepol2|libsemanage.*|passwd|login|adduser|bash|debianutils|diffutils|findutils|grep|gzip|hostname|mount|sed|util-linux.*|ncurses-base|ncurses-bin|libglib2.0-bin|libglib2.0-data|libfftw3-bin|x11-common|xfonts-.*|ttf-bitstream-vera|xorg-sgml-doctools|libfontenc1|fonts-(croscore|freefont-.*|liberation.*|texgyre|urw-base35))$'

usage() {
  echo "usage: scripts/cuda-deps.sh download <folder> | unpack <folder> <prefix>" >&2
  exit 2
}

case "${1:-}" in
  download)
    [ $# -eq 2 ] || usage
    command -v apt-get >/dev/null || { echo "error: download runs on Debian bookworm (apt-get)" >&2; exit 9; }
    mkdir -p "$2"
    # shellcheck disable=SC2086
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances $packages | grep -v '^[ <]' | sort -u | grep -Ev "$system" >"$2/packages.txt"
    (cd "$2" && xargs apt-get download -q <packages.txt >/dev/null)
    echo "downloaded $(ls "$2"/*.deb | wc -l) packages ($(du -sh "$2" | cut -f1)) into $2"
    ;;
  unpack)
    [ $# -eq 3 ] || usage
    command -v dpkg >/dev/null || { echo "error: unpack needs dpkg (dpkg -x)" >&2; exit 9; }
    ls "$2"/*.deb >/dev/null 2>&1 || { echo "error: no .deb files in '$2': run the download first" >&2; exit 3; }
    mkdir -p "$3"
    prefix=$(cd "$3" && pwd)
    for deb in "$2"/*.deb; do dpkg -x "$deb" "$prefix"; done
    # Absolute links inside the packages point into /usr: make them point into the prefix
    # (a link to a system library left out of the download stays as it is).
    find "$prefix" -type l -lname '/*' | while read -r link; do
      target=$(readlink "$link")
      if [ -e "$prefix$target" ]; then ln -sfn "$prefix$target" "$link"; fi
    done
    arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
    mkdir -p "$prefix/etc/fonts"
    cat >"$prefix/etc/fonts/srnn-fonts.conf" <<END
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>$prefix/usr/share/fonts</dir><dir>/usr/share/fonts</dir><cachedir>/tmp/srnn-fontconfig</cachedir></fontconfig>
END
    cat >"$prefix/env.sh" <<END
# Debian's libraries unpacked by scripts/cuda-deps.sh: source this before building or running.
export SRNN_DEPS_PREFIX=$prefix
export PKG_CONFIG_LIBDIR=$prefix/usr/lib/$arch/pkgconfig:$prefix/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$prefix
export CMAKE_PREFIX_PATH=$prefix/usr\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}
export LD_LIBRARY_PATH=$prefix/usr/lib/$arch\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export FONTCONFIG_FILE=$prefix/etc/fonts/srnn-fonts.conf
export PATH=\$PATH:$prefix/usr/bin
END
    echo "unpacked $(ls "$2"/*.deb | wc -l) packages into $prefix; source $prefix/env.sh to use them"
    ;;
  *) usage ;;
esac
