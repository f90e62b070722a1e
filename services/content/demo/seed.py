"""Demo data for `portal dev` and `portal seed`: real BHXH texts, every role, live queues.

Published articles and legal documents come from the real Vietnamese texts in `corpus/`
and enter as migrated content (`import_published`, keeping their original dates); a few
more articles go through the real workflow and are left waiting in the editorial queues.
Running it twice changes nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.content.access import Access
from services.content.accounts.passwords import hash_password
from services.content.items.kinds import ARTICLE, DOCUMENT, PAGE
from services.content.items.schemas import ArticleCreate
from services.content.items.service import create_item, import_published
from services.content.models import Category, Membership, Portal, User
from services.content.workflow import Role

CORPUS = Path(__file__).parent / "corpus"

PORTALS: list[dict[str, Any]] = [
    {
        "id": "trung-uong",
        "name": "Cổng Thông tin điện tử Bảo hiểm xã hội Việt Nam",
        "kind": "central",
        "locales": ["vi", "en"],
    },
    {"id": "ha-noi", "name": "Bảo hiểm xã hội thành phố Hà Nội", "kind": "provincial"},
    {"id": "tp-ho-chi-minh", "name": "Bảo hiểm xã hội Thành phố Hồ Chí Minh", "kind": "provincial"},
    {"id": "phu-yen", "name": "Bảo hiểm xã hội tỉnh Phú Yên", "kind": "provincial"},
    {"id": "da-nang", "name": "Bảo hiểm xã hội thành phố Đà Nẵng", "kind": "provincial"},
    {"id": "can-tho", "name": "Bảo hiểm xã hội thành phố Cần Thơ", "kind": "provincial"},
]

# (name, slug, parent slug)
CATEGORIES = [
    ("Tin tức - Sự kiện", "tin-tuc-su-kien", None),
    ("Hoạt động ngành", "hoat-dong-nganh", "tin-tuc-su-kien"),
    ("Tin địa phương", "tin-dia-phuong", "tin-tuc-su-kien"),
    ("Chính sách BHXH", "chinh-sach-bhxh", None),
    ("Chính sách BHYT", "chinh-sach-bhyt", None),
    ("Chính sách BHTN", "chinh-sach-bhtn", None),
    ("Truyền thông", "truyen-thong", None),
]

ROLES = [Role.CONTRIBUTOR, Role.EDITOR, Role.HEAD, Role.APPROVER, Role.ADMIN]
ROLE_LABELS = {
    Role.CONTRIBUTOR: "Cộng tác viên",
    Role.EDITOR: "Biên tập viên",
    Role.HEAD: "Trưởng đơn vị",
    Role.APPROVER: "Ban biên tập",
    Role.ADMIN: "Quản trị cổng",
}
DEMO_PORTALS_WITH_STAFF = {"trung-uong": "tw", "phu-yen": "phuyen", "ha-noi": "hanoi"}


@dataclass(frozen=True)
class CorpusArticle:
    file: str
    title: str
    skip: int  # leading non-empty lines that are not body (title, dateline…)
    drop_tail: int  # trailing non-empty lines that are not body (byline, source…)
    author: str
    source: str
    published: datetime
    category: str
    tags: tuple[str, ...]
    portals: tuple[str, ...]


ARTICLES = [
    CorpusArticle(
        "article-interactive-communication-2018.txt",
        "Triển khai công tác thông tin, truyền thông trong giai đoạn mới: Chú trọng các loại "
        "hình truyền thông mang tính tương tác cao",
        2,
        1,
        "Lâm Thảo",
        "BHXH Việt Nam",
        datetime(2018, 4, 21, 1, 0, tzinfo=UTC),
        "truyen-thong",
        ("truyền thông", "Phú Yên"),
        ("trung-uong", "phu-yen"),
    ),
    CorpusArticle(
        "article-resolution-96-review-2019.txt",
        "Tiếp tục nâng cao hiệu quả truyền thông theo Nghị quyết 96/NQ-BCS",
        2,
        1,
        "Ban Tuyên giáo Đảng ủy",
        "Baohiemxahoi.gov.vn",
        datetime(2019, 1, 11, 2, 0, tzinfo=UTC),
        "hoat-dong-nganh",
        ("Nghị quyết 96", "truyền thông"),
        ("trung-uong", "ha-noi"),
    ),
    CorpusArticle(
        "article-foreign-information-study-2021.txt",
        "Nghiệm thu Đề tài khoa học về thực trạng công tác thông tin đối ngoại ngành BHXH Việt Nam",
        0,
        1,
        "Thủy Hà",
        "BHXH Việt Nam",
        datetime(2021, 3, 29, 3, 0, tzinfo=UTC),
        "hoat-dong-nganh",
        ("thông tin đối ngoại", "nghiên cứu khoa học"),
        ("trung-uong", "da-nang"),
    ),
    CorpusArticle(
        "article-mic-training-conference-2022.txt",
        "Hội nghị tập huấn nghiệp vụ về công tác thông tin tuyên truyền năm 2022",
        1,
        0,
        "Trung tâm Thông tin",
        "Bộ Thông tin và Truyền thông",
        datetime(2022, 9, 27, 4, 0, tzinfo=UTC),
        "truyen-thong",
        ("tập huấn", "truyền thông"),
        ("trung-uong", "tp-ho-chi-minh", "can-tho"),
    ),
]

# Legal documents named in the corpus, with the facts the corpus gives about them.
DOCUMENTS: list[dict[str, Any]] = [
    {
        "number": "3216/BHXH-TT",
        "doc_type": "Công văn",
        "issuer": "Bảo hiểm xã hội Việt Nam",
        "signer": "Đào Việt Ánh",
        "issued_on": "2023-10-05",
        "effective_on": "2023-10-05",
        "summary": "Về việc triển khai công tác truyền thông trên Cổng TTĐT BHXH địa phương",
        "field": "BHXH",
        "file": "official-letter-3216-BHXH-TT-2023.txt",
    },
    {
        "number": "2474/QĐ-BHXH",
        "doc_type": "Quyết định",
        "issuer": "Bảo hiểm xã hội Việt Nam",
        "issued_on": "2019-12-31",
        "summary": "Ban hành quy định về quy trình biên tập, đăng tin, gỡ tin trên Cổng TTĐT "
        "BHXH Việt Nam, Cổng TTĐT các tỉnh trực thuộc Trung ương",
        "field": "BHXH",
    },
    {
        "number": "1334/QĐ-BHXH",
        "doc_type": "Quyết định",
        "issuer": "Bảo hiểm xã hội Việt Nam",
        "issued_on": "2019-10-11",
        "summary": "Ban hành quy định chế độ nhuận bút, thù lao trên Cổng TTĐT BHXH Việt Nam",
        "field": "BHXH",
    },
    {
        "number": "96/NQ-BCS",
        "doc_type": "Nghị quyết",
        "issuer": "Ban Cán sự Đảng BHXH Việt Nam",
        "issued_on": "2017-08-24",
        "summary": "Về đổi mới, nâng cao chất lượng, hiệu quả công tác truyền thông BHXH, BHYT "
        "trong tình hình mới",
        "field": "BHXH",
    },
]


def paragraphs(file: str) -> list[str]:
    text = (CORPUS / file).read_text(encoding="utf-8")
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


def _lead(first: str, limit: int = 600) -> str:
    if len(first) <= limit:
        return first
    cut = first[:limit]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return cut[: end + 1] if end > 100 else cut.rsplit(" ", 1)[0] + "…"


def article_data(article: CorpusArticle, category_id: str) -> dict[str, Any]:
    lines = paragraphs(article.file)
    body_lines = lines[article.skip : len(lines) - article.drop_tail or None]
    lead = _lead(body_lines[0])
    body = "".join(f"<p>{_escape(p)}</p>" for p in body_lines[1:])
    return {
        "title": article.title,
        "lead": lead,
        "body": body,
        "category_id": category_id,
        "tags": list(article.tags),
        "featured_media_id": None,
        "featured_caption": None,
        "featured_credit": None,
        "author": article.author,
        "source": article.source,
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def document_data(doc: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in doc.items() if k != "file"}
    body = ""
    if "file" in doc:
        body = "".join(f"<p>{_escape(p)}</p>" for p in paragraphs(doc["file"]))
    data.setdefault("signer", None)
    data.setdefault("effective_on", data["issued_on"])
    data.update(
        expires_on=None, body=body, in_force=True, category_id=None, attachments=[], relations=[]
    )
    return data


async def seed_demo(
    db: Database,
    *,
    console: Console | None = None,
    admin_password: str | None = None,
    demo_password: str | None = None,
) -> bool:
    """Create the demo data unless it is there; return True when something was created."""
    console = console or Console(stderr=True)
    async with db.transaction() as session:
        if await session.get(Portal, "trung-uong") is not None:
            console.print("Demo data is already there; nothing to seed.")
            return False
    generated_admin = admin_password is None
    admin_password = admin_password or secrets.token_urlsafe(12)
    demo_password = demo_password or secrets.token_urlsafe(9)
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("Seeding demo data", total=6)
        async with db.transaction() as session:
            admin = User(
                username="admin",
                password_hash=hash_password(admin_password),
                full_name="Quản trị hệ thống",
                is_superadmin=True,
            )
            session.add(admin)
            for spec in PORTALS:
                session.add(_portal(spec))
            await session.flush()
            progress.advance(task)
            categories = await _categories(session)
            progress.advance(task)
            staff = await _staff(session, demo_password)
            progress.advance(task)
            await _articles(session, categories, staff)
            progress.advance(task)
            await _documents(session, staff)
            progress.advance(task)
            await _pages(session, staff)
            await _queues(session, categories, staff)
            progress.advance(task)
    lines = [
        f"superadmin: admin / {admin_password}"
        + ("" if generated_admin else " (from PORTAL_ADMIN_PASSWORD)"),
        f"demo staff: {{tw|phuyen|hanoi}}.{{contributor|editor|approver|admin}} and "
        f"tw.head (the central portal's middle stage) / {demo_password}",
    ]
    if generated_admin:
        console.print("[bold yellow]Generated passwords — shown once:[/]")
    else:
        console.print("[bold]Demo accounts:[/]")
    for line in lines:
        console.print("  " + line)
    return True


def _portal(spec: dict[str, Any]) -> Portal:
    central = spec["kind"] == "central"
    return Portal(
        id=spec["id"],
        name=spec["name"],
        kind=spec["kind"],
        locales=spec.get("locales", ["vi"]),
        # The contact point published in letter 3216/BHXH-TT; provinces fill in their own.
        spokesperson=(
            {
                "name": "Trung tâm Truyền thông BHXH Việt Nam",
                "title": "Đầu mối Ban Biên tập Cổng TTĐT",
                "phone": "0243.2151423",
                "email": "congthongtindientu@vss.gov.vn",
            }
            if central
            else None
        ),
        links=[
            {"name": "Cổng Dịch vụ công quốc gia", "url": "https://dichvucong.gov.vn/"},
        ],
    )


async def _categories(session: AsyncSession) -> dict[tuple[str, str], str]:
    ids: dict[tuple[str, str], str] = {}
    for portal in PORTALS:
        for position, (name, slug, parent) in enumerate(CATEGORIES):
            category = Category(
                portal_id=portal["id"],
                name=name,
                slug=slug,
                parent_id=ids[(portal["id"], parent)] if parent else None,
                position=position,
            )
            session.add(category)
            await session.flush()
            ids[(portal["id"], slug)] = category.id
    return ids


async def _staff(session: AsyncSession, password: str) -> dict[tuple[str, Role], Access]:
    staff: dict[tuple[str, Role], Access] = {}
    hashed = hash_password(password)
    for portal, prefix in DEMO_PORTALS_WITH_STAFF.items():
        for role in ROLES:
            if role is Role.HEAD and portal != "trung-uong":
                continue
            user = User(
                username=f"{prefix}.{role.value}",
                password_hash=hashed,
                full_name=f"{ROLE_LABELS[role]} ({portal}, mẫu)",
            )
            session.add(user)
            await session.flush()
            session.add(Membership(user_id=user.id, portal_id=portal, role=role.value))
            staff[(portal, role)] = Access(
                user_id=user.id,
                username=user.username,
                full_name=user.full_name,
                roles={portal: role},
            )
    await session.flush()
    return staff


def _editor_of(staff: dict[tuple[str, Role], Access], portal: str) -> Access:
    return staff.get((portal, Role.EDITOR)) or staff[("trung-uong", Role.EDITOR)]


async def _articles(
    session: AsyncSession,
    categories: dict[tuple[str, str], str],
    staff: dict[tuple[str, Role], Access],
) -> None:
    for article in ARTICLES:
        for offset, portal_id in enumerate(article.portals):
            portal = await session.get(Portal, portal_id)
            assert portal is not None
            editor = _editor_of(staff, portal_id)
            assert editor.user_id is not None
            await import_published(
                session,
                ARTICLE,
                portal=portal,
                author_id=editor.user_id,
                actor_name=editor.full_name,
                data=article_data(article, categories[(portal_id, article.category)]),
                published_at=article.published + timedelta(hours=offset),
            )


async def _documents(session: AsyncSession, staff: dict[tuple[str, Role], Access]) -> None:
    portal = await session.get(Portal, "trung-uong")
    assert portal is not None
    editor = staff[("trung-uong", Role.EDITOR)]
    assert editor.user_id is not None
    for doc in DOCUMENTS:
        issued = datetime.fromisoformat(doc["issued_on"]).replace(hour=3, tzinfo=UTC)
        await import_published(
            session,
            DOCUMENT,
            portal=portal,
            author_id=editor.user_id,
            actor_name=editor.full_name,
            data=document_data(doc),
            published_at=issued,
        )


async def _pages(session: AsyncSession, staff: dict[tuple[str, Role], Access]) -> None:
    for portal_id in ("trung-uong", "phu-yen"):
        portal = await session.get(Portal, portal_id)
        assert portal is not None
        editor = _editor_of(staff, portal_id)
        assert editor.user_id is not None
        data = {
            "title": "Liên hệ",
            "body": (
                f"<h2>{_escape(portal.name)}</h2><p>Người phát ngôn và đầu mối liên hệ được "
                "công bố trong hồ sơ cổng (GET /v1/portals/{portal}).</p>"
            ),
            "position": 0,
        }
        await import_published(
            session,
            PAGE,
            portal=portal,
            author_id=editor.user_id,
            actor_name=editor.full_name,
            data=data,
            published_at=datetime(2024, 1, 1, tzinfo=UTC),
        )


async def _queues(
    session: AsyncSession,
    categories: dict[tuple[str, str], str],
    staff: dict[tuple[str, Role], Access],
) -> None:
    """Drafts waiting in the central and Phú Yên newsrooms.

    They have no featured image yet (the media service arrives with its own issue), so
    submitting one shows the posting standard at work: 422 listing what is missing.
    """
    now = datetime.now(UTC)
    for portal_id, article in (("trung-uong", ARTICLES[3]), ("phu-yen", ARTICLES[0])):
        author = staff[(portal_id, Role.CONTRIBUTOR)]
        data = article_data(article, categories[(portal_id, "tin-dia-phuong")])
        data["title"] = f"[Bản nháp mẫu] {data['title']}"
        await create_item(
            session,
            ARTICLE,
            access=author,
            portal_id=portal_id,
            body=ArticleCreate(**data),
            now=now,
        )
