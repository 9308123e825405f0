"""Protobuf field numbers of the built-in kinds kubectl's typed `create` subcommands send, and JSON names.

Part of the sandbox API emulator; facts from the Kubernetes API's `generated.proto` files (k8s.io/api,
k8s.io/apimachinery) and the json tags of the Go types, written as `"<number> <jsonName> [<type>]; ..."`:
- the type is `string` when left out; `int`, `bool`, `bytes`, `Time`, `IntOrString`, `Quantity` or a message;
- `*T` is a Go pointer (kept when sent, even if zero), `[]T` a list, `{T}` a map from string to T;
- a trailing `!` marks a field without `omitempty` (always in the JSON); structs are always in the JSON too;
- the JSON name `-` inlines an embedded struct's fields into the parent.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "TOP_LEVEL"]

_META = "1 metadata ObjectMeta"

MESSAGES: dict[str, str] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": (
        "1 name; 2 generateName; 3 namespace; 4 selfLink; 5 uid; 6 resourceVersion; 7 generation int;"
        " 8 creationTimestamp Time; 9 deletionTimestamp *Time; 10 deletionGracePeriodSeconds *int;"
        " 11 labels {string}; 12 annotations {string}; 13 ownerReferences []OwnerReference;"
        " 14 finalizers []string"
    ),
    "OwnerReference": (
        "5 apiVersion!; 1 kind!; 3 name!; 4 uid!; 6 controller *bool; 7 blockOwnerDeletion *bool"
    ),
    "LabelSelector": "1 matchLabels {string}; 2 matchExpressions []LabelSelectorRequirement",
    "LabelSelectorRequirement": "1 key!; 2 operator!; 3 values []string",
    # k8s.io/api/core/v1
    "Namespace": f"{_META}; 2 spec NamespaceSpec; 3 status NamespaceStatus",
    "NamespaceSpec": "1 finalizers []string",
    "NamespaceStatus": "1 phase",
    "ConfigMap": f"{_META}; 4 immutable *bool; 2 data {{string}}; 3 binaryData {{bytes}}",
    "Secret": f"{_META}; 5 immutable *bool; 2 data {{bytes}}; 4 stringData {{string}}; 3 type",
    "ServiceAccount": (
        f"{_META}; 2 secrets []ObjectReference; 3 imagePullSecrets []LocalObjectReference;"
        " 4 automountServiceAccountToken *bool"
    ),
    "ObjectReference": "1 kind; 2 namespace; 3 name; 4 uid; 5 apiVersion; 6 resourceVersion; 7 fieldPath",
    "LocalObjectReference": "1 name",
    "Service": f"{_META}; 2 spec ServiceSpec; 3 status ServiceStatus",
    "ServiceSpec": (
        "1 ports []ServicePort; 2 selector {string}; 3 clusterIP; 18 clusterIPs []string; 4 type;"
        " 5 externalIPs []string; 7 sessionAffinity; 8 loadBalancerIP; 9 loadBalancerSourceRanges []string;"
        " 10 externalName; 11 externalTrafficPolicy; 12 healthCheckNodePort int;"
        " 13 publishNotReadyAddresses bool;"
        " 19 ipFamilies []string; 17 ipFamilyPolicy *string; 20 allocateLoadBalancerNodePorts *bool;"
        " 21 loadBalancerClass *string; 22 internalTrafficPolicy *string; 23 trafficDistribution *string"
    ),
    "ServicePort": (
        "1 name; 2 protocol; 6 appProtocol *string; 3 port int!; 4 targetPort IntOrString; 5 nodePort int"
    ),
    "ServiceStatus": "1 loadBalancer LoadBalancerStatus",
    "LoadBalancerStatus": "",
    "Pod": f"{_META}; 2 spec PodSpec; 3 status PodStatus",
    "PodStatus": "1 phase; 3 message; 4 reason",
    "PodTemplateSpec": f"{_META}; 2 spec PodSpec",
    "PodSpec": (
        "20 initContainers []Container; 2 containers []Container!; 3 restartPolicy;"
        " 4 terminationGracePeriodSeconds *int; 5 activeDeadlineSeconds *int; 6 dnsPolicy;"
        " 7 nodeSelector {string}; 8 serviceAccountName; 9 serviceAccount;"
        " 21 automountServiceAccountToken *bool;"
        " 10 nodeName; 11 hostNetwork bool; 12 hostPID bool; 13 hostIPC bool; 27 shareProcessNamespace *bool;"
        " 15 imagePullSecrets []LocalObjectReference; 16 hostname; 17 subdomain; 19 schedulerName;"
        " 22 tolerations []Toleration; 24 priorityClassName; 25 priority *int; 29 runtimeClassName *string;"
        " 30 enableServiceLinks *bool; 31 preemptionPolicy *string; 35 setHostnameAsFQDN *bool;"
        " 37 hostUsers *bool"
    ),
    "Toleration": "1 key; 2 operator; 3 value; 4 effect; 5 tolerationSeconds *int",
    "Container": (
        "1 name!; 2 image; 3 command []string; 4 args []string; 5 workingDir; 6 ports []ContainerPort;"
        " 7 env []EnvVar; 8 resources ResourceRequirements; 24 restartPolicy *string;"
        " 9 volumeMounts []VolumeMount; 13 terminationMessagePath; 20 terminationMessagePolicy;"
        " 14 imagePullPolicy; 16 stdin bool; 17 stdinOnce bool; 18 tty bool"
    ),
    "ContainerPort": "1 name; 2 hostPort int; 3 containerPort int!; 4 protocol; 5 hostIP",
    "EnvVar": "1 name!; 2 value",
    "ResourceRequirements": "1 limits {Quantity}; 2 requests {Quantity}",
    "VolumeMount": (
        "1 name!; 2 readOnly bool; 7 recursiveReadOnly *string; 3 mountPath!; 4 subPath;"
        " 5 mountPropagation *string; 6 subPathExpr"
    ),
    # k8s.io/api/apps/v1
    "Deployment": f"{_META}; 2 spec DeploymentSpec; 3 status DeploymentStatus",
    "DeploymentSpec": (
        "1 replicas *int; 2 selector *LabelSelector!; 3 template PodTemplateSpec;"
        " 4 strategy DeploymentStrategy; 5 minReadySeconds int; 6 revisionHistoryLimit *int; 7 paused bool;"
        " 9 progressDeadlineSeconds *int"
    ),
    "DeploymentStrategy": "1 type; 2 rollingUpdate *RollingUpdateDeployment",
    "RollingUpdateDeployment": "1 maxUnavailable *IntOrString; 2 maxSurge *IntOrString",
    "DeploymentStatus": (
        "1 observedGeneration int; 2 replicas int; 3 updatedReplicas int; 7 readyReplicas int;"
        " 4 availableReplicas int; 5 unavailableReplicas int; 9 terminatingReplicas *int;"
        " 8 collisionCount *int"
    ),
    # k8s.io/api/batch/v1
    "Job": f"{_META}; 2 spec JobSpec; 3 status JobStatus",
    "JobSpec": (
        "1 parallelism *int; 2 completions *int; 3 activeDeadlineSeconds *int; 7 backoffLimit *int;"
        " 12 backoffLimitPerIndex *int; 13 maxFailedIndexes *int; 4 selector *LabelSelector;"
        " 5 manualSelector *bool; 6 template PodTemplateSpec; 8 ttlSecondsAfterFinished *int;"
        " 9 completionMode *string; 10 suspend *bool; 14 podReplacementPolicy *string; 15 managedBy *string"
    ),
    "JobStatus": (
        "2 startTime *Time; 3 completionTime *Time; 4 active int; 5 succeeded int; 6 failed int;"
        " 11 terminating *int; 7 completedIndexes; 10 failedIndexes *string; 9 ready *int"
    ),
    "CronJob": f"{_META}; 2 spec CronJobSpec; 3 status CronJobStatus",
    "CronJobSpec": (
        "1 schedule!; 8 timeZone *string; 2 startingDeadlineSeconds *int; 3 concurrencyPolicy;"
        " 4 suspend *bool; 5 jobTemplate JobTemplateSpec; 6 successfulJobsHistoryLimit *int;"
        " 7 failedJobsHistoryLimit *int"
    ),
    "CronJobStatus": (
        "1 active []ObjectReference; 4 lastScheduleTime *Time; 5 lastSuccessfulTime *Time"
    ),
    "JobTemplateSpec": f"{_META}; 2 spec JobSpec",
    # k8s.io/api/networking/v1
    "Ingress": f"{_META}; 2 spec IngressSpec; 3 status IngressStatus",
    "IngressSpec": (
        "4 ingressClassName *string; 1 defaultBackend *IngressBackend; 2 tls []IngressTLS;"
        " 3 rules []IngressRule"
    ),
    "IngressTLS": "1 hosts []string; 2 secretName",
    "IngressRule": "1 host; 2 - IngressRuleValue",
    "IngressRuleValue": "1 http *HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "1 paths []HTTPIngressPath!",
    "HTTPIngressPath": "1 path; 3 pathType *string!; 2 backend IngressBackend",
    "IngressBackend": "4 service *IngressServiceBackend",
    "IngressServiceBackend": "1 name!; 2 port ServiceBackendPort",
    "ServiceBackendPort": "1 name; 2 number int",
    "IngressStatus": "1 loadBalancer IngressLoadBalancerStatus",
    "IngressLoadBalancerStatus": "",
    # k8s.io/api/policy/v1
    "PodDisruptionBudget": f"{_META}; 2 spec PodDisruptionBudgetSpec; 3 status PodDisruptionBudgetStatus",
    "PodDisruptionBudgetSpec": (
        "1 minAvailable *IntOrString; 2 selector *LabelSelector; 3 maxUnavailable *IntOrString;"
        " 4 unhealthyPodEvictionPolicy *string"
    ),
    "PodDisruptionBudgetStatus": (
        "1 observedGeneration int; 3 disruptionsAllowed int!; 4 currentHealthy int!; 5 desiredHealthy int!;"
        " 6 expectedPods int!"
    ),
}

# (apiVersion, kind) of a protobuf envelope -> the message its raw bytes hold.
TOP_LEVEL: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
}
