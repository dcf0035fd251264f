"""HTTP schemas of users, regions and households (bilingual descriptions for the OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from api.edge import INT32_MAX, STORABLE, TEXT_SCHEMA, Text
from api.schemas import _d, _In
from domain.enums import HouseholdCategory, RegionLevel, Role

REGION_PATTERN = r"^[0-9]{6}([0-9]{3}){0,2}$"
VILLAGE_PATTERN = r"^[0-9]{12}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$"
Password = Annotated[str, Field(min_length=1, max_length=128), STORABLE, TEXT_SCHEMA]
CATEGORIES_TEXT = ", ".join(c.value for c in HouseholdCategory)


class UserCreate(_In):
    """A new login account, with a role and a region inside the administrator's own."""

    username: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$",
        description=_d("登录名（3–64 位字母、数字、. _ -）", "login name: 3–64 letters, digits, . _ -"),
    )
    full_name: Text = Field(min_length=1, max_length=100, description=_d("姓名", "full name"))
    role: Role = Field(description=_d("角色", "role"))
    region_code: str = Field(pattern=REGION_PATTERN, description=_d("所属区划代码（本辖区内）", "region, inside yours"))
    organisation: Text = Field("", max_length=200, description=_d("单位", "organisation"))
    password: Password | None = Field(
        None,
        description=_d(
            "初始密码（省略则生成临时密码，仅返回一次；首次登录须修改）",
            "initial password; omitted: a temporary one is generated and returned once. Changed at first login",
        ),
    )
    expert_id: int | None = Field(
        None,
        ge=1,
        le=INT32_MAX,
        description=_d(
            "关联的专家库专家（角色须为 expert）", "the expert of the library this account logs in for (role expert)"
        ),
    )
    email: str | None = Field(
        None,
        max_length=254,
        pattern=EMAIL_PATTERN,
        description=_d("接收通知的邮箱（可由本人修改）", "e-mail for notifications (the user may change it)"),
    )


class PasswordResetIn(_In):
    """A password reset: the administrator's choice, or a generated one (returned once)."""

    password: Password | None = Field(
        None, description=_d("新密码（省略则生成临时密码）", "new password; omitted: a temporary one is generated")
    )


class PasswordChange(_In):
    """Change your own password: the current one and the new one."""

    old_password: Password = Field(description=_d("当前密码", "current password"))
    new_password: Password = Field(
        description=_d("新密码：8–128 位，含字母和数字，不含登录名", "new: 8–128 characters, letters and digits")
    )


class UserPublic(BaseModel):
    """A login account (never its password)."""

    id: int
    username: str = Field(description=_d("登录名", "login name"))
    full_name: str = Field(description=_d("姓名", "full name"))
    role: Role = Field(description=_d("角色", "role"))
    region_code: str = Field(description=_d("所属区划代码", "region code"))
    region_name: str = Field(description=_d("区划名称", "region name"))
    organisation: str = Field(description=_d("单位", "organisation"))
    active: bool = Field(description=_d("是否启用", "may log in"))
    must_change_password: bool = Field(description=_d("下次登录须修改密码", "must change the password first"))
    expert_id: int | None = Field(None, description=_d("关联的专家", "the linked expert of the library"))
    created_at: datetime = Field(description=_d("创建时间", "created at"))


class UserWithPassword(UserPublic):
    """An account just created or reset, with the temporary password when one was generated (shown once)."""

    temporary_password: str | None = Field(
        None, description=_d("临时密码（仅此一次显示）", "the generated temporary password, shown this once")
    )


class UsersPublic(BaseModel):
    """A page of users."""

    items: list[UserPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int


class RegionPublic(BaseModel):
    """An administrative region."""

    code: str = Field(description=_d("区划代码", "region code"))
    name: str = Field(description=_d("名称", "name"))
    level: RegionLevel = Field(description=_d("层级", "level"))
    parent_code: str | None = Field(None, description=_d("上级区划代码", "parent region code"))


class RegionsPublic(BaseModel):
    """A page of regions."""

    items: list[RegionPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int


class RegionNode(BaseModel):
    """A region with the regions beneath it."""

    code: str = Field(description=_d("区划代码", "region code"))
    name: str = Field(description=_d("名称", "name"))
    level: RegionLevel = Field(description=_d("层级", "level"))
    children: list[RegionNode] = Field(default_factory=list, description=_d("下级区划", "the regions beneath"))


Categories = Annotated[
    list[HouseholdCategory],
    Field(max_length=len(HouseholdCategory), description=_d("户类别", f"categories: {CATEGORIES_TEXT}")),
]


class HouseholdCreate(_In):
    """A beneficiary household (一户一码); ID number and bank account are stored, and only ever shown masked."""

    code: str = Field(
        min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description=_d("户码（一户一码）", "household code")
    )
    village_code: str = Field(pattern=VILLAGE_PATTERN, description=_d("所在村代码", "village code"))
    head_name: Text = Field(min_length=1, max_length=100, description=_d("户主姓名", "head of household"))
    members: int = Field(ge=1, le=30, description=_d("家庭人口（1–30）", "members, 1–30"))
    categories: Categories = Field(default_factory=list)
    id_number: str = Field(
        pattern=r"^[0-9]{17}[0-9Xx]$", description=_d("户主身份证号（校验位）", "head's resident ID number")
    )
    bank_account: str = Field(pattern=r"^[0-9]{12,30}$", description=_d("收款账号（12–30 位数字）", "bank account"))


class HouseholdUpdate(_In):
    """A partial change of a household; only the fields sent change (the code never does)."""

    village_code: str | None = Field(None, pattern=VILLAGE_PATTERN, description=_d("所在村代码", "village code"))
    head_name: Text | None = Field(None, min_length=1, max_length=100, description=_d("户主姓名", "head"))
    members: int | None = Field(None, ge=1, le=30, description=_d("家庭人口（1–30）", "members, 1–30"))
    categories: Categories | None = None
    id_number: str | None = Field(
        None, pattern=r"^[0-9]{17}[0-9Xx]$", description=_d("户主身份证号", "head's resident ID number")
    )
    bank_account: str | None = Field(
        None, pattern=r"^[0-9]{12,30}$", description=_d("收款账号（12–30 位数字）", "bank account")
    )

    @field_validator("village_code", "head_name", "members", "categories", "id_number", "bank_account")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class HouseholdPublic(BaseModel):
    """A beneficiary household; the ID number and the bank account are masked."""

    id: int
    code: str = Field(description=_d("户码", "household code"))
    village_code: str = Field(description=_d("所在村代码", "village code"))
    village_name: str = Field(description=_d("村名称", "village name"))
    head_name: str = Field(description=_d("户主姓名", "head of household"))
    members: int = Field(description=_d("家庭人口", "members"))
    categories: list[HouseholdCategory] = Field(description=_d("户类别", f"categories: {CATEGORIES_TEXT}"))
    id_number: str = Field(description=_d("身份证号（脱敏）", "ID number, masked"))
    bank_account: str = Field(description=_d("收款账号（脱敏）", "bank account, masked"))


class HouseholdsPublic(BaseModel):
    """A page of households."""

    items: list[HouseholdPublic]
    count: int = Field(description=_d("符合条件的总数", "total matching"))
    limit: int
    offset: int


class ImportReport(BaseModel):
    """What an import wrote: every row of the file, in one transaction."""

    rows: int = Field(description=_d("文件行数（不含表头）", "rows in the file, header excluded"))
    written: int = Field(description=_d("写入（新增或更新）行数", "rows created or updated"))
