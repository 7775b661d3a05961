#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (see fuzz/README.md).

stack_file: stack and env files of ../shared/corpus (Apache-2.0, see its
README) and examples/stacks, plus short-syntax edge cases. image_json:
manifests, indexes and configs in OCI and docker form. layer_tar: small
tars made with tarfile, one per tricky entry kind. flags: flag values and
`run` command lines. Run from anywhere; it rewrites the seed directories.
"""
import gzip, hashlib, io, json, os, shutil, tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(REPO, "..", "shared", "corpus")
MAX_SEED = 8192


def fresh(target):
    path = os.path.join(HERE, target)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def put(target_dir, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(target_dir, name), "wb") as f:
        f.write(data)


def stack_seeds():
    out = fresh("stack_file")
    for base in (CORPUS, os.path.join(REPO, "examples", "stacks")):
        for dirpath, _, files in os.walk(base):
            if "expected-" in dirpath:
                continue
            for name in sorted(files):
                if not (name.endswith((".yaml", ".yml", ".env")) or name == ".env"):
                    continue
                path = os.path.join(dirpath, name)
                if os.path.getsize(path) > MAX_SEED:
                    continue
                rel = os.path.relpath(path, base).replace(os.sep, "__")
                prefix = "corpus" if base == CORPUS else "examples"
                with open(path, "rb") as f:
                    put(out, f"{prefix}__{rel}", f.read())
    put(out, "short_syntax.yaml", """services:
  web:
    image: busybox:${TAG:-latest}
    ports: ["80", "8080:80", "127.0.0.1:8000-8010:80-90/udp", "[::1]:${PORT}:80", "0.0.0.0::53/tcp"]
    volumes: ["data:/data:ro,nocopy", "./src:/src:rw,z", "/abs:/abs:ro", "~/x:/x", "/anon"]
    environment: {A: "$$literal", B: "${SET:?need it}", C: "${EMPTY:+alt}", D: "${NONE-def}"}
    mem_limit: 1.5g
    healthcheck: {test: ["CMD-SHELL", "true"], interval: 1m30s, timeout: 500ms, retries: 3}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 65535}
    labels: ["a=b", "c"]
    tmpfs: ["/run:size=64m"]
    depends_on: {db: {condition: service_healthy}}
  db:
    image: busybox
    extends: {service: base}
  base:
    image: busybox
    command: &cmd ["sh", "-c", "echo $$HOME"]
    entrypoint: *cmd
volumes: {data: {}}
x-anchors: &a {k: v}
x-merge: {<<: *a, j: !reset null}
""")
    put(out, "plain.env", 'export A=1\nB="two\\nlines"\nC=\'lit $X\'\nD=${SET:-x} # comment\nE\n')


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_seeds():
    out = fresh("image_json")
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "1000:1000",
            "Env": ["PATH=/usr/bin:/bin", "A=1"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo hi"],
            "WorkingDir": "/app",
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8000-8002": {}},
            "Volumes": {"/data": {}},
            "Labels": {"a": "b"},
            "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 2000000000, "Retries": 3},
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(b"layer")]},
        "history": [{"created_by": "import", "created": "2024-01-01T00:00:00Z"}],
    }
    cfg = json.dumps(config, indent=1).encode()
    put(out, "config.json", cfg)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": digest(b"blob"), "size": 4}
    for name, mt, cmt in [
        ("oci_manifest.json", "application/vnd.oci.image.manifest.v1+json",
         "application/vnd.oci.image.config.v1+json"),
        ("docker_manifest.json", "application/vnd.docker.distribution.manifest.v2+json",
         "application/vnd.docker.container.image.v1+json"),
    ]:
        put(out, name, json.dumps({"schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": cmt, "digest": digest(cfg), "size": len(cfg)},
            "layers": [layer]}, indent=1))
    plats = [("amd64", None), ("arm64", "v8"), ("arm", "v7"), ("386", None)]
    for name, mt in [("oci_index.json", "application/vnd.oci.image.index.v1+json"),
                     ("docker_list.json", "application/vnd.docker.distribution.manifest.list.v2+json")]:
        entries = []
        for arch, variant in plats:
            p = {"architecture": arch, "os": "linux"}
            if variant:
                p["variant"] = variant
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": digest(arch.encode()), "size": 100, "platform": p})
        put(out, name, json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": entries}, indent=1))
    put(out, "save_manifest.json", json.dumps([{"Config": "blobs/sha256/" + digest(cfg)[7:],
        "RepoTags": ["busybox:latest"], "Layers": ["blobs/sha256/" + digest(b"blob")[7:]]}]))


def add(tar, name, kind=tarfile.REGTYPE, data=b"", **kw):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = kw.pop("mode", 0o644)
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def tar_bytes(build, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        build(tar)
    data = buf.getvalue().rstrip(b"\0")
    # Whole 512-byte blocks, then the two end-of-archive blocks; no padding
    # to tarfile's 10 KiB record.
    blocks = (len(data) + 511) // 512
    return data.ljust(blocks * 512, b"\0") + b"\0" * 1024


def layer_seeds():
    out = fresh("layer_tar")
    cases = {
        "files": lambda t: (add(t, "etc/", tarfile.DIRTYPE, mode=0o755),
                            add(t, "etc/hostname", data=b"box\n"),
                            add(t, "bin/sh", data=b"#!", mode=0o4755)),
        "symlinks": lambda t: (add(t, "abs", tarfile.SYMTYPE, linkname="/etc/passwd"),
                               add(t, "up", tarfile.SYMTYPE, linkname="../../.."),
                               add(t, "up/escape", data=b"x")),
        "hardlinks": lambda t: (add(t, "a", data=b"a"),
                                add(t, "b", tarfile.LNKTYPE, linkname="a"),
                                add(t, "c", tarfile.LNKTYPE, linkname="../outside")),
        "dotdot": lambda t: (add(t, "../sentinel/x", data=b"x"),
                             add(t, "/abs/file", data=b"y"),
                             add(t, "./a/./b/../c", data=b"z")),
        "whiteouts": lambda t: (add(t, "dir/", tarfile.DIRTYPE, mode=0o755),
                                add(t, "dir/.wh..wh..opq"),
                                add(t, "dir/.wh.gone"),
                                add(t, ".wh..wh.plnk")),
        "devices": lambda t: (add(t, "dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
                              add(t, "dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
                              add(t, "fifo", tarfile.FIFOTYPE)),
        "replace": lambda t: (add(t, "x/", tarfile.DIRTYPE),
                              add(t, "x/y", data=b"1"),
                              add(t, "x", tarfile.SYMTYPE, linkname="/tmp"),
                              add(t, "x/z", data=b"2")),
        "xattrs": lambda t: add(t, "f", data=b"f", pax_headers={
            "SCHILY.xattr.user.a": "1", "SCHILY.xattr.trusted.overlay.opaque": "y",
            "mtime": "1700000000.5", "uid": "99999999999"}),
    }
    for name, build in cases.items():
        put(out, name + ".tar", tar_bytes(build))
    put(out, "longname_gnu.tar",
        tar_bytes(lambda t: add(t, "d/" * 60 + "f", data=b"x"), tarfile.GNU_FORMAT))
    put(out, "files.tar.gz", gzip.compress(tar_bytes(cases["files"]), mtime=0))


def flag_seeds():
    out = fresh("flags")
    values = ["512m", "1.5g", "6MB", "1m30s", "500ms", "-5s", "80", "8080:80",
              "127.0.0.1:8000-8010:80-90/udp", "[::1]:80:80", "8000-8002/tcp",
              "data:/data:ro,nocopy", "/host:/ctr:rw,rslave", "/anon",
              "type=bind,source=/a,target=/b,readonly,bind-propagation=rshared",
              "type=volume,src=v,dst=/v,volume-nocopy,volume-opt=o=x",
              "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777",
              "/run:size=64m,mode=1777,noexec", "all", "SIGTERM", "9", "CAP_NET_ADMIN",
              "on-failure:3", "unless-stopped", "ENV A=1", "EXPOSE 80/tcp",
              'CMD ["sh","-c","true"]', "docker.io/library/busybox:1.36@" + digest(b"x"),
              "10.1.2.0/24", "10.1.2.3"]
    for i, v in enumerate(values):
        put(out, f"value_{i:02}", v)
    lines = [
        ["-p", "127.0.0.1:8080:80/udp", "-m", "512m", "--memory-swap", "-1", "--cpus", "0.5"],
        ["-v", "data:/data", "--mount", "type=tmpfs,target=/t", "--tmpfs", "/run:size=1m"],
        ["--health-cmd", "true", "--health-interval", "1s", "--health-timeout", "2s",
         "--health-retries", "3", "--health-start-period", "1m", "--health-start-interval", "5s"],
        ["--log-opt", "max-size=10m", "--log-opt", "max-file=3", "--restart", "on-failure:2"],
        ["-l", "a=b", "--label", "c", "-e", "A=1", "-e", "HOME", "--security-opt",
         "no-new-privileges=false", "--expose", "80-82", "-P", "--stop-signal", "KILL"],
    ]
    for i, args in enumerate(lines):
        put(out, f"run_{i}", "run\n" + "\n".join(args))


if __name__ == "__main__":
    stack_seeds()
    image_seeds()
    layer_seeds()
    flag_seeds()
