from django.shortcuts import redirect, render

from .models import Note


def index(request):
    if request.method == "POST":
        title = request.POST.get("title", "").strip()
        if title:
            Note.objects.create(title=title, body=request.POST.get("body", ""))
        return redirect("notes:index")
    return render(request, "notes/index.html", {"notes": Note.objects.all()[:50]})
