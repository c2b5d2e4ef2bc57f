"""`build_args_for`: which lab image stands in for each official image a Dockerfile names.

Pure: Dockerfile texts in, build args out; no engine needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.lab.images import build_args_for

PY_BUILD = "cockpit-lab/python-build:bookworm"
PY = "cockpit-lab/python:bookworm"
NODE_BUILD = "cockpit-lab/node-build:bookworm"
NODE = "cockpit-lab/node:bookworm"
GO = "cockpit-lab/golang:bookworm"
RUNTIME = "cockpit-lab/runtime:bookworm"
CADDY = "cockpit-lab/caddy:bookworm"


def test_python_build_and_base_get_the_build_and_runtime_images() -> None:
    text = ("ARG BUILD_IMAGE=python:3.12-slim\nARG BASE_IMAGE=python:3.12-slim\n\n"
            "FROM ${BUILD_IMAGE} AS build\nRUN pip install x\n\nFROM ${BASE_IMAGE} AS runtime\n")
    assert build_args_for(text) == {"BUILD_IMAGE": PY_BUILD, "BASE_IMAGE": PY}


def test_node_images_of_any_major_map_to_the_labs_node() -> None:
    text = ("ARG BUILD_IMAGE=node:22-bookworm-slim\nARG BASE_IMAGE=node:18-bookworm-slim\n"
            "FROM $BUILD_IMAGE AS build\nFROM $BASE_IMAGE\n")
    assert build_args_for(text) == {"BUILD_IMAGE": NODE_BUILD, "BASE_IMAGE": NODE}


def test_go_builder_and_distroless_runtime() -> None:
    text = ("ARG BUILD_IMAGE=golang:1.22-bookworm\n"
            "ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot\n"
            "FROM ${BUILD_IMAGE} AS build\nFROM ${BASE_IMAGE} AS runtime\n")
    assert build_args_for(text) == {"BUILD_IMAGE": GO, "BASE_IMAGE": RUNTIME}


def test_static_site_with_busybox_build_and_caddy_runtime() -> None:
    text = ("ARG BASE_IMAGE=busybox:1.36\nARG CADDY_IMAGE=caddy:2.8-alpine\n"
            "FROM ${BASE_IMAGE} AS build\nFROM ${CADDY_IMAGE} AS runtime\n")
    assert build_args_for(text) == {"BASE_IMAGE": RUNTIME, "CADDY_IMAGE": CADDY}


def test_spa_node_build_and_caddy() -> None:
    text = ("ARG BUILD_IMAGE=node:20-bookworm-slim\nARG CADDY_IMAGE=caddy:2.8-alpine\n"
            "FROM ${BUILD_IMAGE} AS build\nFROM ${CADDY_IMAGE} AS runtime\n")
    assert build_args_for(text) == {"BUILD_IMAGE": NODE_BUILD, "CADDY_IMAGE": CADDY}


def test_debian_generic_base() -> None:
    assert build_args_for("ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\n") == {
        "BASE_IMAGE": RUNTIME}


@pytest.mark.parametrize("image", [
    "docker.io/library/python:3.12-slim", "docker.io/python:3.12", "index.docker.io/library/python",
    "python", "python:3.12-slim@sha256:" + "a" * 64, "public.ecr.aws/docker/library/python:3.12",
])
def test_registry_prefixes_tags_and_digests_of_official_images_are_recognised(image: str) -> None:
    assert build_args_for(f"ARG BASE_IMAGE={image}\nFROM ${{BASE_IMAGE}}\n") == {"BASE_IMAGE": PY}


@pytest.mark.parametrize("image", [
    "postgres:16", "nginx:1.27", "alpine:3.20", "myorg/python:3.12", "ghcr.io/acme/node:20",
    "registry.example.com/python:3.12", "${REGISTRY}/python:3.12", "cockpit-lab/python:bookworm",
])
def test_unknown_or_private_images_are_left_out(image: str) -> None:
    assert build_args_for(f"ARG BASE_IMAGE={image}\nFROM ${{BASE_IMAGE}}\n") == {}


def test_only_args_before_the_first_from_count() -> None:
    text = ("ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n"
            "ARG BUILD_IMAGE=python:3.12-slim\nARG NODE_VERSION=20\n")
    assert build_args_for(text) == {"BASE_IMAGE": PY}


def test_args_without_a_default_or_not_naming_an_image_are_left_out() -> None:
    text = "ARG BUILD_IMAGE\nARG PORT=8000\nARG APP_ENV=production\nFROM python:3.12-slim\n"
    assert build_args_for(text) == {}


def test_distroless_language_runtimes_get_the_language_runtime_image() -> None:
    text = ("ARG BASE_IMAGE=gcr.io/distroless/python3-debian12\n"
            "ARG NODE_RUNTIME=gcr.io/distroless/nodejs20-debian12\n"
            "FROM ${BASE_IMAGE} AS a\nFROM ${NODE_RUNTIME}\n")
    assert build_args_for(text) == {"BASE_IMAGE": PY, "NODE_RUNTIME": NODE}


def test_other_arg_names_get_the_build_variant_only_when_no_final_stage_uses_them() -> None:
    text = ("ARG PY_BUILDER=python:3.12\nARG PY_RUNTIME=python:3.12-slim\n"
            "ARG UNUSED=node:20\n"
            "FROM ${PY_BUILDER} AS build\nFROM ${PY_RUNTIME}\n")
    assert build_args_for(text) == {"PY_BUILDER": PY_BUILD, "PY_RUNTIME": PY, "UNUSED": NODE}


def test_quotes_comments_continuations_and_several_pairs_per_arg() -> None:
    text = ('# syntax comment is just a comment here\n'
            'arg BUILD_IMAGE="python:3.12-slim" \\\n'
            '    # a comment inside a continuation\n'
            "    BASE_IMAGE='python:3.12-slim'\n"
            "from --platform=linux/amd64 ${BUILD_IMAGE} as build\nFROM ${BASE_IMAGE}\n")
    assert build_args_for(text) == {"BUILD_IMAGE": PY_BUILD, "BASE_IMAGE": PY}


def test_a_path_or_a_path_string_reads_the_file(tmp_path: Path) -> None:
    f = tmp_path / "Dockerfile"
    f.write_text("ARG BASE_IMAGE=node:18-bookworm-slim\nFROM ${BASE_IMAGE}\n")
    assert build_args_for(f) == {"BASE_IMAGE": NODE}
    assert build_args_for(str(f)) == {"BASE_IMAGE": NODE}


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope/Dockerfile"):
        build_args_for(tmp_path / "nope" / "Dockerfile")


def test_a_bad_arg_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "Dockerfile"
    f.write_text("ARG BASE_IMAGE=python:3.12\nARG 9LIVES=cat\nFROM ${BASE_IMAGE}\n")
    with pytest.raises(ValueError, match=r"Dockerfile:2: ARG name '9LIVES'"):
        build_args_for(f)


def test_the_generated_dockerfiles_map_completely(tmp_path: Path) -> None:
    """Every official image a generated Dockerfile names gets a lab image."""
    import re

    from cockpit.generate import artifacts

    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text("import http.server\n")
    text = artifacts("dockerfile", app)[0].content
    declared = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, re.MULTILINE))
    assert declared
    assert set(build_args_for(text)) == set(declared)
