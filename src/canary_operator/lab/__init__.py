"""The local lab: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok fake nodes) and Prometheus, on 127.0.0.1, from cached Go builds."""

from canary_operator.lab.cluster import Lab, LabState, default_state_dir
from canary_operator.lab.errors import LabError

__all__ = ["Lab", "LabError", "LabState", "default_state_dir"]
