# mypy: ignore-errors
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateComputeTemplateRequest(_message.Message):
    __slots__ = ("compute_template", "namespace")
    COMPUTE_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    compute_template: ComputeTemplate
    namespace: str
    def __init__(self, compute_template: _Optional[_Union[ComputeTemplate, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetComputeTemplateRequest(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListComputeTemplatesRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class ListComputeTemplatesResponse(_message.Message):
    __slots__ = ("compute_templates",)
    COMPUTE_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    compute_templates: _containers.RepeatedCompositeFieldContainer[ComputeTemplate]
    def __init__(self, compute_templates: _Optional[_Iterable[_Union[ComputeTemplate, _Mapping]]] = ...) -> None: ...

class ListAllComputeTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAllComputeTemplatesResponse(_message.Message):
    __slots__ = ("compute_templates",)
    COMPUTE_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    compute_templates: _containers.RepeatedCompositeFieldContainer[ComputeTemplate]
    def __init__(self, compute_templates: _Optional[_Iterable[_Union[ComputeTemplate, _Mapping]]] = ...) -> None: ...

class DeleteComputeTemplateRequest(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class PodToleration(_message.Message):
    __slots__ = ("key", "operator", "value", "effect")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    key: str
    operator: str
    value: str
    effect: str
    def __init__(self, key: _Optional[str] = ..., operator: _Optional[str] = ..., value: _Optional[str] = ..., effect: _Optional[str] = ...) -> None: ...

class ComputeTemplate(_message.Message):
    __slots__ = ("name", "namespace", "cpu", "memory", "gpu", "gpu_accelerator", "tolerations", "extended_resources", "memory_unit")
    class ExtendedResourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    GPU_ACCELERATOR_FIELD_NUMBER: _ClassVar[int]
    TOLERATIONS_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_UNIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    cpu: int
    memory: int
    gpu: int
    gpu_accelerator: str
    tolerations: _containers.RepeatedCompositeFieldContainer[PodToleration]
    extended_resources: _containers.ScalarMap[str, int]
    memory_unit: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., cpu: _Optional[int] = ..., memory: _Optional[int] = ..., gpu: _Optional[int] = ..., gpu_accelerator: _Optional[str] = ..., tolerations: _Optional[_Iterable[_Union[PodToleration, _Mapping]]] = ..., extended_resources: _Optional[_Mapping[str, int]] = ..., memory_unit: _Optional[str] = ...) -> None: ...

class UpdateComputeTemplateRequest(_message.Message):
    __slots__ = ("compute_template", "namespace", "name", "resource_version", "node_selector", "affinity", "cpu_limit", "memory_limit")
    class NodeSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMPUTE_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    compute_template: ComputeTemplate
    namespace: str
    name: str
    resource_version: str
    node_selector: _containers.ScalarMap[str, str]
    affinity: _struct_pb2.Struct
    cpu_limit: int
    memory_limit: int
    def __init__(self, compute_template: _Optional[_Union[ComputeTemplate, _Mapping]] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., resource_version: _Optional[str] = ..., node_selector: _Optional[_Mapping[str, str]] = ..., affinity: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cpu_limit: _Optional[int] = ..., memory_limit: _Optional[int] = ...) -> None: ...
