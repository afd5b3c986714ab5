"""What every category is: a name, a title and a strict pydantic model of its attributes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, field_validator

from app.text import reject_nul


class Attributes(BaseModel):
    """Base for category attribute models: unknown keys are rejected, never silently kept."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = field_validator("*")(reject_nul)


@dataclass(frozen=True)
class Category:
    name: str
    title: str
    attributes: type[Attributes]

    def json_schema(self) -> dict[str, Any]:
        return self.attributes.model_json_schema()

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validated attributes as stored in JSONB (unset optional fields are left out)."""
        model = self.attributes.model_validate(raw)
        return model.model_dump(mode="json", exclude_none=True)

    def filter_keys(self) -> list[str]:
        return sorted(self.attributes.model_fields)

    def parse_filter_value(self, key: str, raw: str) -> Any:
        """Type a query-string value by the attribute's declared type (`ram_gb=16` → 16)."""
        adapter = _filter_adapter(self.attributes, key)
        return adapter.dump_python(adapter.validate_strings(raw), mode="json")


@cache
def _filter_adapter(attributes: type[Attributes], key: str) -> TypeAdapter[Any]:
    """One validator per attribute, built once: building it costs far more than a filtered
    list read (docs/performance-notes.md, step 7)."""
    field = attributes.model_fields[key]
    # The field's constraints (ge/le/max_length) live in its metadata, not its annotation.
    constrained: Any = Annotated[field.annotation, *field.metadata, AfterValidator(reject_nul)]
    return TypeAdapter(constrained)
