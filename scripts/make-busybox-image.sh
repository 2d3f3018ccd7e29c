#!/usr/bin/env bash
# Builds a real OCI image layout from Debian's busybox-static, for tests, the demo and the
# benchmarks (no image binary is committed). Two gzip layers:
#   1. /bin/busybox with every applet linked to it, and the usual top-level directories;
#   2. /etc/passwd, /etc/group (root, nobody and a "berth" user 1000:1000) and a label file.
# The config sets PATH, Cmd ["sh"], WorkingDir /, a label and ExposedPorts 8080/tcp.
#
# usage: make-busybox-image.sh OUT_DIR [TAG]      (OUT_DIR must not exist yet)
# Prints the manifest digest. Needs busybox-static, tar, gzip, sha256sum.
set -euo pipefail

out=${1:?usage: make-busybox-image.sh OUT_DIR [TAG]}
tag=${2:-latest}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "make-busybox-image.sh: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
[ -e "$out" ] && { echo "make-busybox-image.sh: $out already exists" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/blobs/sha256"

# Stable tar output: fixed owner, mode bits as on disk, fixed mtime, sorted names.
pack() {  # pack DIR -> prints "diffid digest size" of a gzip layer written into blobs
  local dir=$1 raw=$work/layer.tar
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00Z' \
    -C "$dir" -cf "$raw" .
  local diffid; diffid=$(sha256sum "$raw" | cut -d' ' -f1)
  gzip -n -c "$raw" >"$work/layer.tar.gz"
  local digest; digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
  local size; size=$(stat -c %s "$work/layer.tar.gz")
  mv "$work/layer.tar.gz" "$out/blobs/sha256/$digest"
  rm -f "$raw"
  echo "$diffid $digest $size"
}

base=$work/base
mkdir -p "$base"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var,run}
chmod 1777 "$base/tmp"
chmod 700 "$base/root"
cp "$busybox" "$base/bin/busybox"
for applet in $("$busybox" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$base/$(dirname "$applet")"
  ln -sf /bin/busybox "$base/$applet"
done

etc=$work/etc
mkdir -p "$etc/etc" "$etc/home/berth"
cat >"$etc/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
berth:x:1000:1000:berth test user:/home/berth:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$etc/etc/group" <<'EOF'
root:x:0:
wheel:x:10:berth
berth:x:1000:
nogroup:x:65534:
EOF
echo "busybox test image" >"$etc/etc/berth-image"

read -r diff1 digest1 size1 < <(pack "$base")
read -r diff2 digest2 size2 < <(pack "$etc")

config=$work/config.json
cat >"$config" <<EOF
{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  "Cmd":["sh"],"WorkingDir":"/","Labels":{"org.berth.test":"busybox"},
  "ExposedPorts":{"8080/tcp":{}}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff1","sha256:$diff2"]}}
EOF
config_digest=$(sha256sum "$config" | cut -d' ' -f1)
config_size=$(stat -c %s "$config")
mv "$config" "$out/blobs/sha256/$config_digest"

manifest=$work/manifest.json
cat >"$manifest" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config_digest","size":$config_size},
 "layers":[
  {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$digest1","size":$size1},
  {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$digest2","size":$size2}]}
EOF
manifest_digest=$(sha256sum "$manifest" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$manifest")
mv "$manifest" "$out/blobs/sha256/$manifest_digest"

echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
cat >"$out/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest_digest","size":$manifest_size,
  "annotations":{"org.opencontainers.image.ref.name":"$tag"}}]}
EOF
echo "sha256:$manifest_digest"
