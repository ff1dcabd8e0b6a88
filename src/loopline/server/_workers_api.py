"""(filled in)"""

from fastapi import APIRouter

router = APIRouter()
