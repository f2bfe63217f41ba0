"""The HTTP API's one route table: what the router, the permission check, the local gateway and
the CDK app's API Gateway resources are all built from.

A request is matched exactly against these templates: no trailing or doubled slash, no other
case, no encoded separator. What matches no route is refused (fail closed), so a permission is
never guessed for a path the table does not name.
"""

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from workflows.auth.roles import Permission

# A path parameter is one non-empty segment; the ids themselves are checked by the use cases.
_PARAMETER = r"(?P<\1>[^/]+)"


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # API Gateway's resource template: /subscriptions/{subscription_id}
    permission: Permission | None  # None: public, no token
    body: type[BaseModel] | None = None  # the JSON request body's model
    # Its answer carries a secret: `Cache-Control: no-store`, no browser or proxy keeps it.
    shows_secret: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", _PARAMETER, re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))

    @property
    def public(self) -> bool:
        return self.permission is None

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` is exactly this route's, else None."""
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


class RouteTable:
    def __init__(self) -> None:
        self._routes: list[ApiRoute] = []

    def add(self, route: ApiRoute) -> ApiRoute:
        if any(r.method == route.method and r.path == route.path for r in self._routes):
            raise ValueError(f"{route.method} {route.path} is declared twice")
        self._routes.append(route)
        return route

    def __iter__(self):
        return iter(list(self._routes))

    def __len__(self) -> int:
        return len(self._routes)

    def find(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        for route in self._routes:
            parameters = route.match(path)
            if route.method == method and parameters is not None:
                return route, parameters
        return None

    def methods_of(self, path: str) -> set[str]:
        return {route.method for route in self._routes if route.match(path) is not None}
