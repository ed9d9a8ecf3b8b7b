#!/usr/bin/env python3
"""The library boundaries of app/CMakeLists.txt and drivers/, as the build enforces them.

1. Includes: each library's own translation units are compiled again
   (-fsyntax-only, with the exact command from compile_commands.json) on a
   probe file that includes one header. Another library's private header, or
   a public header of a library it does not depend on, must not be found;
   the headers it may use must compile.
2. Links: lookoutd's link line holds no CLI object (bench, watch, detect,
   inspect, image_io), lookout's no daemon object (server, pipeline, daemon,
   notify, the HTTP server and its viewer page) and neither libsystemd nor yaml-cpp; the executables' NEEDED
   entries agree. lookout draws with lookout_picture, and lookout_picture
   brings no engine and no libtorch into whatever links it (seen on the link
   line of its own test binary, which links nothing else of the project).

Usage: boundaries_test.py BUILD_DIR. Works with the Ninja and Makefile
generators, native or cross (readelf and ar read any ELF).
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

build = os.path.abspath(sys.argv[1])
failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


# ---- includes -----------------------------------------------------------------------------

with open(os.path.join(build, "compile_commands.json")) as f:
    commands = json.load(f)


def command_for(source_suffix):
    for entry in commands:
        if entry["file"].endswith(source_suffix):
            return entry
    raise SystemExit(f"no compile command for {source_suffix} in {build}/compile_commands.json")


def probe_command(entry, probe):
    """The entry's command with its source swapped for `probe`, checking syntax only and
    writing nothing (no object, no dependency file)."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-o", "-MF", "-MT", "-MQ", "-c"):
            skip = True
            continue
        if arg in ("-MD", "-MMD") or arg == entry["file"]:
            continue
        out.append(arg)
    return out + ["-fsyntax-only", probe]


def compiles(entry, header):
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.cpp")
        with open(probe, "w") as f:
            f.write(f'#include "{header}"\nint lookout_probe;\n')
        r = subprocess.run(probe_command(entry, probe), cwd=entry["directory"],
                           capture_output=True, text=True)
        if r.returncode != 0 and "No such file or directory" not in r.stderr:
            raise SystemExit(f"probe of {header} failed for another reason:\n{r.stderr}")
        return r.returncode == 0


# library: (one of its sources, headers it may include, headers it must not see)
boundaries = {
    "lookout_core": ("app/core/frame.cpp",
                     ["core/log.hpp", "core/enum_names.hpp", "core/source_config.hpp"],
                     ["drivers/source.hpp", "engine/engine.hpp", "config/config.hpp",
                      "picture/image.hpp"]),
    "lookout_engine_core": ("app/engine/letterbox.cpp",
                            ["engine/engine.hpp", "core/frame.hpp"],
                            ["drivers/source.hpp", "config/config.hpp", "daemon/daemon.hpp",
                             "picture/image.hpp", "convert.hpp"]),
    "lookout_picture": ("app/picture/image.cpp",
                        ["picture/image.hpp", "picture/draw.hpp", "picture/annotate.hpp",
                         "core/jpeg.hpp", "engine/engine.hpp"],
                        ["drivers/source.hpp", "config/config.hpp", "daemon/daemon.hpp",
                         "cli/commands.hpp", "image_io.hpp", "letterbox.hpp", "preprocess.hpp",
                         "engine/preprocess.hpp", "common/frame_util.hpp"]),
    "lookout_drivers": ("drivers/factory.cpp",
                        ["drivers/factory.hpp", "core/source_config.hpp", "common/frame_util.hpp"],
                        ["factory.hpp", "source.hpp", "engine/engine.hpp", "config/config.hpp",
                         "daemon/daemon.hpp", "core/config.hpp", "picture/image.hpp"]),
    "lookout_config": ("app/config/config.cpp",
                       ["config/config.hpp", "engine/engine.hpp", "core/log.hpp"],
                       ["drivers/factory.hpp", "daemon/daemon.hpp", "cli/commands.hpp",
                        "preprocess.hpp", "engine/preprocess.hpp", "picture/image.hpp"]),
    "lookout_daemon": ("app/daemon/server.cpp",
                       ["daemon/daemon.hpp", "config/config.hpp", "drivers/supervised_source.hpp",
                        "engine/engine.hpp"],
                       ["files/files_source.hpp", "common/frame_util.hpp", "cli/commands.hpp",
                        "letterbox.hpp", "engine/letterbox.hpp", "convert.hpp", "image_io.hpp"]),
    "lookout_cli": ("app/cli/bench_command.cpp",
                    ["cli/commands.hpp", "drivers/factory.hpp", "engine/prepare_ahead.hpp",
                     "picture/draw.hpp", "picture/image.hpp"],
                    ["files/image_decoder.hpp", "common/frame_util.hpp", "pipeline.hpp",
                     "daemon/pipeline.hpp", "daemon/daemon.hpp", "config/config.hpp",
                     "preprocess.hpp", "convert.hpp", "draw.hpp"]),
    "lookoutd": ("app/lookoutd/main.cpp",
                 ["daemon/daemon.hpp", "config/config.hpp", "drivers/source.hpp"],
                 ["pipeline.hpp", "server.hpp", "http_server.hpp", "output.hpp",
                  "viewer/viewer_page.hpp", "cli/commands.hpp", "draw.hpp", "convert.hpp",
                  "image_io.hpp"]),
    "lookout": ("app/lookout/main.cpp",
                ["cli/commands.hpp", "cli/enum_option.hpp", "engine/engine.hpp"],
                ["daemon/daemon.hpp", "config/config.hpp", "draw.hpp", "image_io.hpp",
                 "server.hpp", "convert.hpp", "picture/draw.hpp"]),
}

for library, (source, allowed, forbidden) in boundaries.items():
    entry = command_for(source)
    for header in allowed:
        if not compiles(entry, header):
            fail(f"{library} ({source}) cannot include \"{header}\", which it may use")
    for header in forbidden:
        if compiles(entry, header):
            fail(f"{library} ({source}) can include \"{header}\" across its boundary")
print(f"includes: {sum(len(a) + len(f) for _, a, f in boundaries.values())} probes")

# ---- links --------------------------------------------------------------------------------


def link_line(target, directory="app"):
    """The link line of the executable `target`, built in `directory` (relative to the build
    directory)."""
    ninja = os.path.join(build, "build.ninja")
    if os.path.exists(ninja):
        text = open(ninja).read()
        # The link edge of the executable, then its LINK_LIBRARIES variable.
        m = re.search(r"^build " + re.escape(directory + "/" + target) +
                      r": CXX_EXECUTABLE_LINKER\S*(.*?)\n(?=\S|\n)", text, re.M | re.S)
        if not m:
            raise SystemExit(f"no link edge for {directory}/{target} in build.ninja")
        libs = re.search(r"^\s+LINK_LIBRARIES = (.*)$", m.group(1), re.M)
        return shlex.split(libs.group(1)) if libs else []
    link_txt = os.path.join(build, directory, "CMakeFiles", target + ".dir", "link.txt")
    return shlex.split(open(link_txt).read())


def archive_members(path):
    r = subprocess.run(["ar", "t", path], capture_output=True, text=True, check=True)
    return r.stdout.split()


def archive_path(arg, directory="app"):
    """build.ninja names archives relative to the build directory, a Makefile's
    link.txt relative to the executable's directory (app/)."""
    for base in ("", build, os.path.join(build, directory)):
        path = os.path.join(base, arg)
        if os.path.exists(path):
            return path
    raise SystemExit(f"archive {arg} on a link line does not exist")


def objects_linked(target):
    """Object files of the project's archives on the target's link line, each named with its
    library ("cli/detect_command.cpp.o" from liblookout_cli.a): libraries may hold objects
    of the same name (draw.cpp.o was the CLI's and is lookout_picture's now)."""
    objects = set()
    for arg in link_line(target):
        name = os.path.basename(arg)
        if arg.endswith(".a") and name.startswith("liblookout_"):
            library = name[len("liblookout_"):-len(".a")]
            objects.update(f"{library}/{member}" for member in archive_members(archive_path(arg)))
    return objects


def names(objects):
    """The object files' own names, whichever library holds them."""
    return {o.split("/", 1)[1] for o in objects}


def needed(target):
    r = subprocess.run(["readelf", "-d", os.path.join(build, "app", target)],
                       capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\).*\[(.*)\]", r.stdout)


# Names of objects that only their library has (checked in whichever archive they turn up,
# so a source compiled into another library is caught too).
cli_objects = {"bench_command.cpp.o", "watch_command.cpp.o", "detect_command.cpp.o",
               "inspect_command.cpp.o", "image_io.cpp.o"}
daemon_objects = {"server.cpp.o", "pipeline.cpp.o", "daemon.cpp.o", "notify.cpp.o",
                  "protocol.cpp.o", "http_server.cpp.o", "metrics.cpp.o", "picture_encoder.cpp.o",
                  "viewer_page.cpp.o"}
config_objects = {"config.cpp.o", "schema.cpp.o"}
picture_objects = {"picture/image.cpp.o", "picture/convert.cpp.o", "picture/draw.cpp.o",
                   "picture/annotate.cpp.o"}

lookoutd = objects_linked("lookoutd")
lookout = objects_linked("lookout")
if not daemon_objects <= names(lookoutd):
    fail(f"lookoutd's link line lacks daemon objects (the check looks at the wrong thing?): {sorted(lookoutd)}")
lookoutd_cli = {o for o in lookoutd if o.startswith("cli/")} | (cli_objects & names(lookoutd))
if lookoutd_cli:
    fail(f"lookoutd links CLI code: {sorted(lookoutd_cli)}")
if not {"cli/bench_command.cpp.o", "cli/watch_command.cpp.o"} <= lookout:
    fail(f"lookout's link line lacks the CLI objects: {sorted(lookout)}")
if not picture_objects <= lookout:
    fail(f"lookout does not link lookout_picture (detect --save draws with it): {sorted(lookout)}")
if daemon_objects & names(lookout):
    fail(f"lookout links the daemon: {sorted(daemon_objects & names(lookout))}")
if config_objects & names(lookout):
    fail(f"lookout links the configuration reader: {sorted(config_objects & names(lookout))}")

# lookout_picture's own link interface: its test binary links it and the test main alone.
picture_test = ("test_app_picture", "tests/app/picture")
picture_line = link_line(*picture_test)
picture_archives = {os.path.basename(a) for a in picture_line if a.endswith(".a")}
if "liblookout_picture.a" not in picture_archives:
    fail(f"{picture_test[0]} does not link lookout_picture (the check looks at the wrong thing?): "
         f"{picture_line}")
for archive in sorted(picture_archives):
    if archive.startswith("liblookout_engine"):
        fail(f"lookout_picture brings in {archive}: only lookout_engine_api (header-only) may come")
for arg in picture_line:
    if re.search(r"torch|c10", os.path.basename(arg)):
        fail(f"lookout_picture brings libtorch onto its users' link line: {arg}")
lookout_line = " ".join(link_line("lookout"))
for lib in ("systemd", "yaml-cpp"):
    if lib in lookout_line:
        fail(f"lookout's link line names {lib}")
    if any(lib in n for n in needed("lookout")):
        fail(f"lookout needs {lib} at run time: {needed('lookout')}")
print(f"links: lookoutd {len(lookoutd)} objects, lookout {len(lookout)} objects, "
      f"lookout_picture's users {len(picture_line)} link arguments")

if failures:
    print(f"{len(failures)} boundary problems")
    sys.exit(1)
print("all boundaries hold")
