"""Product categories and their validated attribute schemas."""

from app.categories.base import Attributes, Category
from app.categories.registry import CATEGORIES, category_names, get_category

__all__ = ["CATEGORIES", "Attributes", "Category", "category_names", "get_category"]
