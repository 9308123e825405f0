#!/usr/bin/env bash
# Builds the controller's OCI image with no Docker engine and nothing pulled from a container registry
# (docs/image.md). The root filesystem is Debian's own packages (python3.11 and the libraries it links),
# extracted by mmdebstrap; the product and its dependencies are wheels installed by pip next to it; umoci
# packs the result into an OCI image layout. Run it through `make image`, which installs the two tools.
#
#   IMAGE_OUT           where everything goes (build/image): oci/ (the layout), alb-rollouts-VERSION.oci.tar,
#                       rootfs/ (the filesystem as packed), image-size.txt
#   IMAGE_PIP           the pip that builds and installs the wheel (.venv/bin/pip: the tested versions)
#   IMAGE_AWS_SERVICES  botocore service models kept (the rest, 27 MB, is deleted)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${IMAGE_OUT:-build/image}
PIP=${IMAGE_PIP:-.venv/bin/pip}
# The controller calls elbv2 and cloudwatch; botocore's credential providers call sts (IRSA's web identity,
# assume-role), sso, sso-oidc and signin. Nothing else is ever loaded.
AWS_SERVICES=${IMAGE_AWS_SERVICES:-elbv2 cloudwatch sts sso sso-oidc signin}
# bookworm's python3.11 is the interpreter the project targets (requires-python >= 3.11, cp311 wheels).
SUITE=bookworm
PYVER=3.11
# The same user as the Dockerfile and k8s/base/deployment.yaml's securityContext.
APP_UID=10001
APP_USER=alb-rollouts
SITE=usr/local/lib/python$PYVER/dist-packages  # on Debian's python sys.path by default

say() { printf '==> %3d s  %s\n' "$((SECONDS - started))" "$*"; }
for tool in mmdebstrap umoci chroot; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run 'make image' (it installs it)" >&2; exit 2; }
done
# chroot (byte-compiling with the image's own python, the smoke test) and files owned by root need root.
[ "$(id -u)" = 0 ] || { echo "image/build.sh needs root (chroot, file ownership)" >&2; exit 2; }
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
started=$SECONDS
CHROOT=$(command -v chroot)  # by path: the smoke test empties PATH

rm -rf "${OUT:?}"
mkdir -p "$OUT/src" "$OUT/wheels"

say "wheel of service/ and statemachine/ only"
# pyproject.toml's package list also names sandbox*; copying only the product's two packages into a clean
# directory keeps sandbox/ (and tests/) out of the wheel without a second packaging configuration.
tar -C . --exclude=__pycache__ -cf - pyproject.toml README.md service statemachine | tar -C "$OUT/src" -xf -
"$PIP" wheel --quiet --no-deps --wheel-dir "$OUT/wheels" "$OUT/src" >"$OUT/wheel.log" 2>&1 \
  || { cat "$OUT/wheel.log" >&2; exit 1; }
wheel=$(ls "$OUT"/wheels/alb_rollouts-*.whl)
# Recorded as a label: tests/test_image.py skips an image built from other source than the working tree's.
source_digest=$(python3 image/oci_run.py --source-digest "$OUT/src")
# The dependency versions the test suite ran with; the test and dev extras are not installed, so moto, pytest
# and the rest named here constrain nothing.
"$PIP" freeze --exclude-editable | grep -v -e '^alb-rollouts' -e ' @ ' >"$OUT/constraints.txt"

say "Debian $SUITE root filesystem (mmdebstrap, extract: no maintainer script runs)"
# The extract variant unpacks the packages and their dependencies and runs nothing in them: no shell, apt or
# init system is needed, so none is in the image. The hook records each package in var/lib/dpkg/status.d/
# (the distroless layout), so that image scanners can list what is in it.
# shellcheck disable=SC2016  # $1 is for the hook's own shell
mmdebstrap --quiet --variant=extract --skip=chroot/mount \
  --include="python$PYVER-minimal,libpython$PYVER-stdlib,ca-certificates,base-files,netbase" \
  --extract-hook='mkdir -p "$1/var/lib/dpkg/status.d"
    for deb in "$1"/var/cache/apt/archives/*.deb; do
      dpkg-deb --field "$deb" > "$1/var/lib/dpkg/status.d/$(dpkg-deb --field "$deb" Package)"
    done' \
  "$SUITE" "$OUT/rootfs" >"$OUT/mmdebstrap.log" 2>&1 || { cat "$OUT/mmdebstrap.log" >&2; exit 1; }
root=$OUT/rootfs

say "the product and its dependencies (pip, wheels for cp311 manylinux only)"
# Wheels only, chosen for the image's interpreter rather than pip's, so that nothing is compiled here. pip
# does not widen an explicit manylinux_2_Y tag to older glibcs: each tag bookworm (glibc 2.36) runs is named.
platforms=(--platform any --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 \
           --platform manylinux1_x86_64)
for minor in $(seq 5 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
"$PIP" install --quiet --no-compile --no-warn-script-location --target "$root/$SITE" \
  --constraint "$OUT/constraints.txt" --only-binary=:all: --implementation cp --python-version "$PYVER" \
  --abi "cp${PYVER/./}" --abi abi3 --abi none "${platforms[@]}" "$wheel" >"$OUT/pip.log" 2>&1 \
  || { cat "$OUT/pip.log" >&2; exit 1; }
# The console scripts pip wrote name the build machine's interpreter; ours is written below.
rm -rf "${root:?}/$SITE/bin"
mkdir -p "$root/usr/local/bin"
cat >"$root/usr/local/bin/alb-rollouts" <<EOF
#!/usr/bin/python$PYVER
import sys

from service.cli import main

sys.exit(main())
EOF
chmod 755 "$root/usr/local/bin/alb-rollouts"

say "trim: botocore models other than $AWS_SERVICES, documentation, apt and dpkg state"
read -ra services <<<"$AWS_SERVICES"
keep=" ${services[*]} "
for dir in "$root/$SITE"/botocore/data/*/; do
  name=$(basename "$dir")
  [[ $keep == *" $name "* ]] || rm -rf "$dir"
done
# The libraries' own test packages and the stdlib's test-support package are no product code.
rm -rf "$root/$SITE"/*/tests "$root/usr/lib/python$PYVER/test"
# Licences stay (usr/share/doc/*/copyright); manuals, translations and changelogs go.
find "$root/usr/share/doc" -type f ! -name copyright -delete
find "$root/usr/share/doc" -type l -delete
rm -rf "${root:?}"/usr/share/{man,info,locale,lintian,bug} "${root:?}"/var/cache/* "${root:?}"/var/lib/apt \
  "${root:?}"/var/log/* "${root:?}"/etc/apt "${root:?}"/etc/resolv.conf "${root:?}"/etc/hostname
# Device nodes, /etc/hosts, /etc/resolv.conf and /proc are the container runtime's to provide.
rm -rf "${root:?}"/dev/* "${root:?}"/proc "${root:?}"/sys
mkdir -p "$root/proc" "$root/sys"

say "users, name service, CA bundle, library cache"
# No maintainer script ran, so what they would have written is written here.
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
$APP_USER:x:$APP_UID:$APP_UID:$APP_USER:/home/$APP_USER:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
$APP_USER:x:$APP_UID:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
mkdir -p "$root/root" "$root/home/$APP_USER"
chmod 700 "$root/root"
chown "$APP_UID:$APP_UID" "$root/home/$APP_USER"
# The bundle update-ca-certificates would write, from Debian's ca-certificates: Python's ssl default context (the web and
# prometheus analysis providers) reads /usr/lib/ssl/cert.pem.
mkdir -p "$root/etc/ssl/certs" "$root/usr/lib/ssl"
cat "$root"/usr/share/ca-certificates/mozilla/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
ln -sfn /etc/ssl/certs "$root/usr/lib/ssl/certs"
ldconfig -r "$root"

say "byte-compile (the root filesystem is read-only at run time: no .pyc could be written then)"
# With the image's own interpreter; this halves the start-up (about 5 s to 2 s).
env -u PYTHONDONTWRITEBYTECODE chroot "$root" "/usr/bin/python$PYVER" -m compileall -q \
  "/usr/lib/python$PYVER" "/$SITE" >/dev/null

say "smoke test in the root filesystem, as uid $APP_UID"
# Imports every module of the product, makes a client from each kept botocore model, loads the CA bundle.
env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="/home/$APP_USER" PYTHONDONTWRITEBYTECODE=1 \
  "$CHROOT" --userspec="$APP_UID:$APP_UID" "$root" "/usr/bin/python$PYVER" -c "
import importlib, importlib.util, pkgutil, ssl, sys
import service, statemachine
for package in (service, statemachine):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):
        importlib.import_module(info.name)
assert importlib.util.find_spec('sandbox') is None, 'sandbox is in the image'
for absent in ('moto', 'pytest', 'tests'):
    assert importlib.util.find_spec(absent) is None, absent + ' is in the image'
import botocore.session
session = botocore.session.get_session()
for name in sys.argv[1:]:
    session.create_client(name, region_name='eu-west-1', aws_access_key_id='x', aws_secret_access_key='x')
assert ssl.create_default_context().cert_store_stats()['x509_ca'] > 100, 'no CA bundle'
" "${services[@]}"
env -i PATH=/usr/local/bin:/usr/bin:/bin "$CHROOT" --userspec="$APP_UID:$APP_UID" "$root" \
  /usr/local/bin/alb-rollouts run --help >/dev/null

say "OCI image (umoci): one layer, user $APP_UID, entrypoint alb-rollouts, command run"
layout=$OUT/oci
umoci init --layout "$layout"
umoci new --image "$layout:$VERSION"
umoci insert --image "$layout:$VERSION" --history.created_by "image/build.sh: Debian $SUITE python$PYVER, \
alb-rollouts $VERSION" "$root" / >/dev/null
umoci config --image "$layout:$VERSION" --author "alb-rollouts" --architecture amd64 --os linux \
  --config.user "$APP_UID:$APP_UID" --config.workingdir / \
  --config.entrypoint alb-rollouts --config.cmd run \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env HOME="/home/$APP_USER" \
  --config.env PYTHONUNBUFFERED=1 --config.env PYTHONDONTWRITEBYTECODE=1 \
  --config.exposedports 8080/tcp --config.exposedports 8090/tcp \
  --config.label org.opencontainers.image.title=alb-rollouts \
  --config.label org.opencontainers.image.version="$VERSION" \
  --config.label alb-rollouts.source-digest="$source_digest" \
  --config.label org.opencontainers.image.description="alb-rollouts on Debian $SUITE's python$PYVER" \
  --history.created_by "umoci config: user, entrypoint, environment"
umoci tag --image "$layout:$VERSION" latest
umoci gc --layout "$layout"
# One file that `podman load`, `skopeo copy oci-archive:...` and Docker 25+'s `docker load` take as it is.
tar -C "$layout" -cf "$OUT/alb-rollouts-$VERSION.oci.tar" .

compressed=$(find "$layout/blobs" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s / 1048576}')
unpacked=$(du -sm "$root" | cut -f1)
site_mb=$(du -sm "$root/$SITE" | cut -f1)
summary="alb-rollouts:$VERSION: ${compressed} MB compressed (oci blobs), ${unpacked} MB unpacked \
(python packages ${site_mb} MB), built in $((SECONDS - started)) s"
echo "$summary" | tee "$OUT/image-size.txt"
echo "layout $layout (tags $VERSION, latest); archive $OUT/alb-rollouts-$VERSION.oci.tar"
