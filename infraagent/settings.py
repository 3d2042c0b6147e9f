"""Settings from the process environment: the only module that reads environment variables.

``Settings.from_environ`` takes the environment as a mapping (the command line passes
``os.environ``; tests pass a dict), so nothing else in the package looks at ``os.environ``.
It deliberately holds plain values only and opens nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

_KEY_VARIABLES: Final = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "openai-compatible": "INFRAAGENT_LLM_API_KEY",
    "ollama": "INFRAAGENT_LLM_API_KEY",
    "vllm": "INFRAAGENT_LLM_API_KEY",
}
_ASSET_VARIABLES: Final = {
    "etcd": "TEST_ASSET_ETCD",
    "kube-apiserver": "TEST_ASSET_KUBE_APISERVER",
    "kubectl": "TEST_ASSET_KUBECTL",
}


@dataclass(frozen=True)
class Settings:
    """What the environment configures.

    ``github_step_summary``: the file GitHub Actions renders as the job summary
    (``GITHUB_STEP_SUMMARY``); None outside GitHub Actions.
    ``kubeconfig``: the kubeconfig named by ``KUBECONFIG`` (passed to the Kubernetes client
    as given, so a list joined with ``:`` works too); None when unset.
    ``kubebuilder_assets`` / ``test_assets``: where the local control plane's binaries are
    (envtest's ``KUBEBUILDER_ASSETS`` and ``TEST_ASSET_ETCD`` / ``_KUBE_APISERVER`` /
    ``_KUBECTL``). ``cache_dir``: ``INFRAAGENT_CACHE``, else ``$XDG_CACHE_HOME/infraagent``,
    else ``$HOME/.cache/infraagent`` (where ``.ci/control-plane`` builds them).
    """

    github_step_summary: Path | None = None
    kubeconfig: Path | None = None
    llm_api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    kubebuilder_assets: Path | None = None
    test_assets: Mapping[str, Path] = field(default_factory=dict)
    cache_dir: Path | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from ``environ``; an empty variable counts as unset.

        ``llm_api_keys`` maps a provider to its key for local runs (``infraagent run``):
        ``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``, and ``INFRAAGENT_LLM_API_KEY`` for any
        OpenAI-compatible server. In a cluster keys come from Secrets instead.
        """
        summary = environ.get("GITHUB_STEP_SUMMARY", "").strip()
        keys = {
            provider: environ[name].strip()
            for provider, name in _KEY_VARIABLES.items()
            if environ.get(name, "").strip()
        }
        kubeconfig = environ.get("KUBECONFIG", "").strip()
        assets = environ.get("KUBEBUILDER_ASSETS", "").strip()
        return cls(
            github_step_summary=Path(summary) if summary else None,
            kubeconfig=Path(kubeconfig) if kubeconfig else None,
            llm_api_keys=keys,
            kubebuilder_assets=Path(assets) if assets else None,
            test_assets={
                binary: Path(environ[name].strip())
                for binary, name in _ASSET_VARIABLES.items()
                if environ.get(name, "").strip()
            },
            cache_dir=_cache_dir(environ),
        )


def _cache_dir(environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get("INFRAAGENT_CACHE", "").strip()
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    home = environ.get("HOME", "").strip()
    if xdg:
        return Path(xdg) / "infraagent"
    return Path(home) / ".cache" / "infraagent" if home else None
